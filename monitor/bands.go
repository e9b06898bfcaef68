package monitor

import "time"

// Load bands, named as Autoscale names them (workflows.BandHigh etc.).
const (
	bandLow    = "low"    // load < in_load
	bandNormal = "normal" // in between
	bandHigh   = "high"   // load >= out_load
)

// bands are a service's scale thresholds with the monitor's hysteresis.
type bands struct {
	in, out    float64
	hysteresis float64
}

// raw is the band of load without hysteresis: exactly Autoscale's rule.
func (b bands) raw(load float64) string {
	switch {
	case load >= b.out:
		return bandHigh
	case load < b.in:
		return bandLow
	}
	return bandNormal
}

// next is the band load puts a node in that is now in cur. Entering a band
// is immediate, so Autoscale's window starts at the real crossing; leaving
// high needs load < out-hysteresis and leaving low needs load >=
// in+hysteresis, so a load wavering around a threshold stays in one band.
// Every band change it reports is also a change in Autoscale's view of the
// same load, because the thresholds for entering are the same.
func (b bands) next(cur string, load float64) string {
	switch {
	case cur == bandHigh && load >= b.out-b.hysteresis:
		return bandHigh
	case cur == bandLow && load < b.in+b.hysteresis && load < b.out:
		return bandLow
	}
	return b.raw(load)
}

// tracker is what the monitor last reported about one subject (a node's
// load band, or its health): a new observation is published when its
// state differs from the reported one, or when the report is older than
// the heartbeat.
type tracker struct {
	state    string
	reported time.Time
}

// due says whether an observation in state at now must be published.
func (t *tracker) due(state string, now time.Time, heartbeat time.Duration) bool {
	return t.reported.IsZero() || state != t.state || now.Sub(t.reported) >= heartbeat
}

// sent records that an observation in state at now reached the stream.
func (t *tracker) sent(state string, now time.Time) {
	t.state, t.reported = state, now
}
