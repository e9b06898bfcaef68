package monitor

import "time"

// siteVerdict is what one heartbeat asks the monitor to publish.
type siteVerdict int

const (
	verdictNone      siteVerdict = iota
	verdictDown                  // first site.down of an outage
	verdictStillDown             // site.down again while the outage lasts
	verdictUp                    // site.up: answered `misses` times in a row
)

// siteState is one watched site as this observer sees it. It is pure: the
// loop feeds it each heartbeat's due time and outcome, publishes what it
// asks for and calls published only once the stream has the event, so a
// failed publish is asked for again on the next heartbeat.
type siteState struct {
	// threshold is the policy's consecutive misses (and answers for up).
	threshold int
	// republish is the interval of site.down re-publishes during an outage.
	republish time.Duration

	missed    int
	firstMiss time.Time // due time of the first miss of the current run
	answered  int       // consecutive answers while down

	down     bool
	since    time.Time      // firstMiss of the outage that was declared
	lastDown time.Time      // last site.down published
	repeats  int            // site.down published for this outage
	gtid     string         // last primary GTID sampled while up
	serving  map[string]int // last nodes per service counted while up
}

// observe takes one heartbeat's outcome and returns what to publish.
func (s *siteState) observe(due time.Time, reachable bool) siteVerdict {
	if reachable {
		s.missed = 0
		if !s.down {
			return verdictNone
		}
		s.answered++
		if s.answered >= s.threshold {
			return verdictUp
		}
		return verdictNone
	}
	s.answered = 0
	if s.missed == 0 {
		s.firstMiss = due
	}
	s.missed++
	switch {
	case !s.down && s.missed >= s.threshold:
		return verdictDown
	case s.down && due.Sub(s.lastDown) >= s.republish:
		return verdictStillDown
	}
	return verdictNone
}

// published records that the verdict's event reached the stream at due.
func (s *siteState) published(v siteVerdict, due time.Time) {
	switch v {
	case verdictDown:
		s.down, s.since, s.repeats = true, s.firstMiss, 0
		fallthrough
	case verdictStillDown:
		s.lastDown = due
		s.repeats++
	case verdictUp:
		s.down, s.answered, s.repeats = false, 0, 0
	}
}
