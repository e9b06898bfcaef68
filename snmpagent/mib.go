package snmpagent

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// OIDs the agent answers, in the dotted form gosnmp uses.
const (
	OIDSysDescr  = ".1.3.6.1.2.1.1.1.0"
	OIDSysUpTime = ".1.3.6.1.2.1.1.3.0"
	// OIDLaTable is UCD-SNMP-MIB laTable.laEntry; walk it to read every load column.
	OIDLaTable = ".1.3.6.1.4.1.2021.10.1"
	// OIDLaLoad1 is laLoad.1, the 1-minute load as a string such as "2.50".
	OIDLaLoad1  = ".1.3.6.1.4.1.2021.10.1.3.1"
	OIDLaLoad5  = ".1.3.6.1.4.1.2021.10.1.3.2"
	OIDLaLoad15 = ".1.3.6.1.4.1.2021.10.1.3.3"
	// OIDLaLoadInt1 is laLoadInt.1, the 1-minute load times 100 as an Integer.
	OIDLaLoadInt1  = ".1.3.6.1.4.1.2021.10.1.5.1"
	OIDLaLoadInt5  = ".1.3.6.1.4.1.2021.10.1.5.2"
	OIDLaLoadInt15 = ".1.3.6.1.4.1.2021.10.1.5.3"
)

// oid is a parsed object identifier; comparing parsed arcs (not strings)
// is what makes ".10" sort after ".9" in GETNEXT.
type oid []uint32

// parseOID parses ".1.3.6" or "1.3.6".
func parseOID(s string) (oid, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, fmt.Errorf("empty OID")
	}
	parts := strings.Split(s, ".")
	out := make(oid, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("OID %q: arc %q is not a number: %w", s, p, err)
		}
		out[i] = uint32(v)
	}
	return out, nil
}

func mustOID(s string) oid {
	o, err := parseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// hasPrefix reports whether o lies at or under p.
func (o oid) hasPrefix(p oid) bool {
	return len(o) >= len(p) && slices.Equal(o[:len(p)], p)
}

// value produces one instance's current value from the agent's state.
type value func(a *Agent) (gosnmp.Asn1BER, any)

// object is a MIB object type (a scalar or a table column); a request under
// it that names no instance gets noSuchInstance rather than noSuchObject.
type object struct {
	oid oid
}

// instance is one readable variable.
type instance struct {
	name string // dotted, as sent back to the manager
	oid  oid
	val  value
}

var (
	// objects and mib are built once and are read-only afterwards, so every
	// agent shares them and the 1,000-agent benchmarks pay for them once.
	objects []object
	mib     []instance
)

func init() {
	add := func(name string, v value) {
		mib = append(mib, instance{name: name, oid: mustOID(name), val: v})
	}
	for _, o := range []string{
		".1.3.6.1.2.1.1.1", ".1.3.6.1.2.1.1.3",
		".1.3.6.1.4.1.2021.10.1.1", ".1.3.6.1.4.1.2021.10.1.2",
		".1.3.6.1.4.1.2021.10.1.3", ".1.3.6.1.4.1.2021.10.1.5",
	} {
		objects = append(objects, object{oid: mustOID(o)})
	}
	add(OIDSysDescr, func(a *Agent) (gosnmp.Asn1BER, any) { return gosnmp.OctetString, a.Descr() })
	add(OIDSysUpTime, func(a *Agent) (gosnmp.Asn1BER, any) { return gosnmp.TimeTicks, a.uptimeTicks() })
	names := []string{"Load-1", "Load-5", "Load-15"}
	for i := range 3 {
		add(fmt.Sprintf("%s.1.%d", OIDLaTable, i+1), func(*Agent) (gosnmp.Asn1BER, any) { return gosnmp.Integer, i + 1 })
	}
	for i := range 3 {
		add(fmt.Sprintf("%s.2.%d", OIDLaTable, i+1), func(*Agent) (gosnmp.Asn1BER, any) { return gosnmp.OctetString, names[i] })
	}
	for i := range 3 {
		add(fmt.Sprintf("%s.3.%d", OIDLaTable, i+1), func(a *Agent) (gosnmp.Asn1BER, any) {
			return gosnmp.OctetString, strconv.FormatFloat(a.loadAt(i), 'f', 2, 64)
		})
	}
	for i := range 3 {
		add(fmt.Sprintf("%s.5.%d", OIDLaTable, i+1), func(a *Agent) (gosnmp.Asn1BER, any) {
			return gosnmp.Integer, int(math.Round(a.loadAt(i) * 100))
		})
	}
	slices.SortFunc(mib, func(x, y instance) int { return slices.Compare(x.oid, y.oid) })
}

// lookup returns the instance named exactly o.
func lookup(o oid) (*instance, bool) {
	i, found := slices.BinarySearchFunc(mib, o, func(e instance, t oid) int { return slices.Compare(e.oid, t) })
	if !found {
		return nil, false
	}
	return &mib[i], true
}

// next returns the first instance strictly after o in lexicographic order.
func next(o oid) (*instance, bool) {
	i, found := slices.BinarySearchFunc(mib, o, func(e instance, t oid) int { return slices.Compare(e.oid, t) })
	if found {
		i++
	}
	if i >= len(mib) {
		return nil, false
	}
	return &mib[i], true
}

// knownObject reports whether o is at or under an object type the agent
// implements, which decides noSuchInstance versus noSuchObject.
func knownObject(o oid) bool {
	for _, ob := range objects {
		if o.hasPrefix(ob.oid) {
			return true
		}
	}
	return false
}
