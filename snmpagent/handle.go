package snmpagent

import (
	"fmt"

	"github.com/gosnmp/gosnmp"
)

const (
	// maxRepetitions caps GETBULK work per request; the whole MIB is a
	// dozen instances, so a larger value only repeats endOfMibView.
	maxRepetitions = 64
	// maxResponse keeps a reply inside one UDP datagram.
	maxResponse = 65000
)

// handle decodes one datagram and returns the encoded reply, or nil when the
// request must go unanswered (undecodable, SNMPv3, wrong community, or a PDU
// an agent does not answer).
func (a *Agent) handle(dec *gosnmp.GoSNMP, pkt []byte) []byte {
	req, ok := decode(dec, pkt)
	if !ok || (req.Version != gosnmp.Version1 && req.Version != gosnmp.Version2c) {
		a.badPackets.Add(1)
		return nil
	}
	if req.Community != a.community {
		a.badCommunity.Add(1)
		return nil
	}
	resp := &gosnmp.SnmpPacket{
		Version:   req.Version,
		Community: req.Community,
		PDUType:   gosnmp.GetResponse,
		RequestID: req.RequestID,
	}
	v1 := req.Version == gosnmp.Version1
	switch req.PDUType {
	case gosnmp.GetRequest:
		resp.Variables, resp.Error, resp.ErrorIndex = a.get(req.Variables, v1)
	case gosnmp.GetNextRequest:
		resp.Variables, resp.Error, resp.ErrorIndex = a.getNext(req.Variables, v1)
	case gosnmp.GetBulkRequest:
		if v1 {
			// GETBULK does not exist in SNMPv1; net-snmp drops it too.
			a.badPackets.Add(1)
			return nil
		}
		resp.Variables = a.getBulk(req.Variables, int(req.NonRepeaters), int(req.MaxRepetitions))
	case gosnmp.SetRequest:
		resp.Variables, resp.Error, resp.ErrorIndex = setRefused(req.Variables, v1)
	default:
		a.badPackets.Add(1)
		return nil
	}
	out, err := marshal(resp, req)
	if err != nil {
		a.badPackets.Add(1)
		return nil
	}
	a.requests.Add(1)
	return out
}

// decode wraps SnmpDecodePacket: gosnmp's parser is written for trusted
// responses and may panic on hostile input, which must not kill the agent.
func decode(dec *gosnmp.GoSNMP, pkt []byte) (req *gosnmp.SnmpPacket, ok bool) {
	defer func() {
		if recover() != nil {
			req, ok = nil, false
		}
	}()
	req, err := dec.SnmpDecodePacket(pkt)
	if err != nil {
		return nil, false
	}
	return req, true
}

// marshal encodes resp; a reply too big for one datagram becomes tooBig with
// the request's varbinds echoed back empty (RFC 3416 4.2.1), and GETBULK
// replies are trimmed instead (RFC 3416 4.2.3).
func marshal(resp, req *gosnmp.SnmpPacket) ([]byte, error) {
	for {
		out, err := resp.MarshalMsg()
		if err != nil {
			return nil, fmt.Errorf("encode response: %w", err)
		}
		if len(out) <= maxResponse {
			return out, nil
		}
		if req.PDUType == gosnmp.GetBulkRequest && len(resp.Variables) > 1 {
			resp.Variables = resp.Variables[:len(resp.Variables)/2]
			continue
		}
		resp.Error, resp.ErrorIndex, resp.Variables = gosnmp.TooBig, 0, nil
	}
}

// exception builds a v2c exception varbind (noSuchObject and friends).
func exception(name string, t gosnmp.Asn1BER) gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: name, Type: t}
}

func (a *Agent) bind(in *instance) gosnmp.SnmpPDU {
	t, v := in.val(a)
	return gosnmp.SnmpPDU{Name: in.name, Type: t, Value: v}
}

// v1Error is SNMPv1's answer to a missing variable: the whole request fails
// with noSuchName pointing at it, and the varbinds are returned unchanged.
func v1Error(vbs []gosnmp.SnmpPDU, i int) ([]gosnmp.SnmpPDU, gosnmp.SNMPError, uint8) {
	return vbs, gosnmp.NoSuchName, errIndex(i)
}

// errIndex is the 1-based index of varbind i; gosnmp stores it in a byte.
func errIndex(i int) uint8 {
	if i >= 255 {
		return 255
	}
	return uint8(i + 1) //nolint:gosec // bounded above
}

func (a *Agent) get(vbs []gosnmp.SnmpPDU, v1 bool) ([]gosnmp.SnmpPDU, gosnmp.SNMPError, uint8) {
	out := make([]gosnmp.SnmpPDU, len(vbs))
	for i, vb := range vbs {
		o, err := parseOID(vb.Name)
		in, found := (*instance)(nil), false
		if err == nil {
			in, found = lookup(o)
		}
		switch {
		case found:
			out[i] = a.bind(in)
		case v1:
			return v1Error(vbs, i)
		case err == nil && knownObject(o):
			out[i] = exception(vb.Name, gosnmp.NoSuchInstance)
		default:
			out[i] = exception(vb.Name, gosnmp.NoSuchObject)
		}
	}
	return out, gosnmp.NoError, 0
}

func (a *Agent) getNext(vbs []gosnmp.SnmpPDU, v1 bool) ([]gosnmp.SnmpPDU, gosnmp.SNMPError, uint8) {
	out := make([]gosnmp.SnmpPDU, len(vbs))
	for i, vb := range vbs {
		in, ok := a.nextOf(vb.Name)
		switch {
		case ok:
			out[i] = a.bind(in)
		case v1:
			return v1Error(vbs, i)
		default:
			out[i] = exception(vb.Name, gosnmp.EndOfMibView)
		}
	}
	return out, gosnmp.NoError, 0
}

func (a *Agent) nextOf(name string) (*instance, bool) {
	o, err := parseOID(name)
	if err != nil {
		return nil, false
	}
	return next(o)
}

// getBulk follows RFC 3416 4.2.3: the first nonRepeaters varbinds get one
// GETNEXT each, the rest are walked maxReps times in lock-step; the walk stops
// early once every repeater has reached endOfMibView.
func (a *Agent) getBulk(vbs []gosnmp.SnmpPDU, nonRep, maxReps int) []gosnmp.SnmpPDU {
	nonRep = min(max(nonRep, 0), len(vbs))
	maxReps = min(max(maxReps, 0), maxRepetitions)
	out := make([]gosnmp.SnmpPDU, 0, len(vbs)+maxReps)
	for _, vb := range vbs[:nonRep] {
		if in, ok := a.nextOf(vb.Name); ok {
			out = append(out, a.bind(in))
		} else {
			out = append(out, exception(vb.Name, gosnmp.EndOfMibView))
		}
	}
	cursor := make([]string, 0, len(vbs)-nonRep)
	for _, vb := range vbs[nonRep:] {
		cursor = append(cursor, vb.Name)
	}
	for range maxReps {
		if len(cursor) == 0 {
			break
		}
		ended := 0
		for j, name := range cursor {
			if in, ok := a.nextOf(name); ok {
				out = append(out, a.bind(in))
				cursor[j] = in.name
			} else {
				out = append(out, exception(name, gosnmp.EndOfMibView))
				ended++
			}
		}
		if ended == len(cursor) {
			break
		}
	}
	return out
}

// setRefused answers a SET: every object here is read-only. v2c says
// notWritable for an object that exists and noCreation for one that cannot
// be created; v1 only has noSuchName.
func setRefused(vbs []gosnmp.SnmpPDU, v1 bool) ([]gosnmp.SnmpPDU, gosnmp.SNMPError, uint8) {
	if len(vbs) == 0 {
		return vbs, gosnmp.NoError, 0
	}
	if v1 {
		return vbs, gosnmp.NoSuchName, 1
	}
	if o, err := parseOID(vbs[0].Name); err == nil && knownObject(o) {
		return vbs, gosnmp.NotWritable, 1
	}
	return vbs, gosnmp.NoCreation, 1
}
