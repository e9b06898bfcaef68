package triggers

import (
	"sort"
	"time"
)

// Vote states.
const (
	VoteDown = "down"
	VoteUp   = "up"
)

// Vote is one observer's latest word on a site, as kept in VotesBucket
// under <site>.<observer>.
type Vote struct {
	// State is VoteDown (site.down) or VoteUp (site.up).
	State string `json:"state"`
	// ObservedAt is the event's observed_at: it orders one observer's
	// votes and dates them for VoteLifetime.
	ObservedAt time.Time `json:"observed_at"`
	// Since is when the observer's first missed heartbeat of the outage
	// was due (site.down payload), if it said.
	Since *time.Time `json:"since,omitempty"`
	// PrimaryGTID is the site database's last position the observer saw.
	PrimaryGTID string `json:"primary_gtid,omitempty"`
	// Serving is the nodes per service the observer last counted at the
	// site while it answered (site.down payload), if it said.
	Serving map[string]int `json:"serving,omitempty"`
	// Event is the ID of the event that cast the vote, for people.
	Event string `json:"event"`
}

// supersedes reports whether v may replace old as the observer's vote:
// an observation older than the stored one never overrides it (events of
// one observer can arrive out of order after redeliveries). An equal time
// is the same observation delivered again.
func (v Vote) supersedes(old Vote) bool { return !v.ObservedAt.Before(old.ObservedAt) }

// detected is when the vote says the outage began: since, or observed_at.
func (v Vote) detected() time.Time {
	if v.Since != nil && !v.Since.IsZero() {
		return *v.Since
	}
	return v.ObservedAt
}

// Tally is the quorum decision over one site's votes at one instant.
type Tally struct {
	// Down are the observers whose down vote counts, sorted.
	Down []string
	// Up are the observers whose latest vote is up, sorted.
	Up []string
	// Expired are the observers whose down vote is too old to count.
	Expired []string
	// Quorum is how many down votes are needed.
	Quorum int
	// DetectedAt is the earliest outage start among the counted votes.
	DetectedAt time.Time
	// PrimaryGTID is the freshest primary_gtid among the counted votes.
	PrimaryGTID string
	// Serving is, per service, the most nodes a counted vote says the
	// site served: the failover starts at least as many, and a count a
	// little stale errs towards capacity. Nil when no vote said.
	Serving map[string]int
}

// Reached reports whether enough distinct observers report the site down.
func (t Tally) Reached() bool { return t.Quorum > 0 && len(t.Down) >= t.Quorum }

// tally counts the down votes observed within lifetime of now. A vote
// dated more than lifetime in the future (an observer whose clock is far
// ahead) does not count either: it could otherwise hold a quorum alone.
func tally(votes map[string]Vote, now time.Time, lifetime time.Duration, quorum int) Tally {
	t := Tally{Quorum: quorum}
	var gtidAt time.Time
	for observer, v := range votes {
		switch {
		case v.State == VoteUp:
			t.Up = append(t.Up, observer)
		case v.State != VoteDown:
			continue
		case now.Sub(v.ObservedAt) > lifetime || v.ObservedAt.Sub(now) > lifetime:
			t.Expired = append(t.Expired, observer)
		default:
			t.Down = append(t.Down, observer)
			if d := v.detected(); t.DetectedAt.IsZero() || d.Before(t.DetectedAt) {
				t.DetectedAt = d
			}
			if v.PrimaryGTID != "" && (gtidAt.IsZero() || v.ObservedAt.After(gtidAt)) {
				t.PrimaryGTID, gtidAt = v.PrimaryGTID, v.ObservedAt
			}
			for svc, n := range v.Serving {
				if t.Serving == nil {
					t.Serving = map[string]int{}
				}
				t.Serving[svc] = max(t.Serving[svc], n)
			}
		}
	}
	sort.Strings(t.Down)
	sort.Strings(t.Up)
	sort.Strings(t.Expired)
	return t
}

// incident is the trigger's memory of a site's current outage, kept in
// VotesBucket under _incident.<site>: the quorum that started (or joined)
// a failover and when the quorum was last seen. Quorums separated by less
// than the vote lifetime are one incident, so a site flapping down, up and
// down again, and the re-published votes of a long outage, start nothing
// new; a quorum after a longer gap is a new incident (and the starter
// still folds it into a failover that succeeded within the block period).
type incident struct {
	Started    time.Time `json:"started"`
	LastQuorum time.Time `json:"last_quorum"`
	Observers  []string  `json:"observers"`
	Workflow   string    `json:"workflow"`
	RunID      string    `json:"run_id,omitempty"`
}

// continues reports whether a quorum at now belongs to this incident.
func (i *incident) continues(now time.Time, lifetime time.Duration) bool {
	return i != nil && now.Sub(i.LastQuorum) <= lifetime
}
