package triggers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// VotesBucket is the JetStream key-value bucket holding the observers'
// votes (<site>.<observer>) and the sites' incidents (_incident.<site>), so
// that a restarted trigger, or a second one, counts the same quorum.
const VotesBucket = "MDC_SITE_VOTES"

// incidentPrefix starts incident keys; no site name starts with '_', so
// they never mix with votes.
const incidentPrefix = "_incident."

// observerRE is what an observer name may be: it is a KV key token.
var observerRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// voteStore keeps votes and incidents in VotesBucket. Every write is a
// compare-and-set on the key's revision, so concurrent triggers cannot lose
// each other's updates or let an older observation win.
type voteStore struct{ kv jetstream.KeyValue }

// openVotes creates VotesBucket (file storage, the latest value per key) or
// opens it as it is.
func openVotes(ctx context.Context, js jetstream.JetStream) (*voteStore, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: VotesBucket, Description: "mdc trigger: observers' site.down/site.up votes and site incidents",
		History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update key-value bucket %s: %w", VotesBucket, err)
	}
	return &voteStore{kv: kv}, nil
}

func voteKey(site, observer string) string { return site + "." + observer }

// record stores v as observer's vote on site unless the stored vote is a
// newer observation; it reports whether v is now the observer's vote.
func (s *voteStore) record(ctx context.Context, site, observer string, v Vote) (bool, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	key := voteKey(site, observer)
	for {
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = s.kv.Create(ctx, key, data)
		case err != nil:
			return false, fmt.Errorf("read vote %s: %w", key, err)
		default:
			if bytes.Equal(e.Value(), data) {
				return true, nil // the same vote, delivered again
			}
			var old Vote
			if json.Unmarshal(e.Value(), &old) == nil && !v.supersedes(old) {
				return false, nil
			}
			_, err = s.kv.Update(ctx, key, data, e.Revision())
		}
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return false, fmt.Errorf("write vote %s: %w", key, err)
		}
		// Another writer got there first: read its vote and decide again.
	}
}

// site returns every observer's vote on site.
func (s *voteStore) site(ctx context.Context, site string) (map[string]Vote, error) {
	w, err := s.kv.WatchFiltered(ctx, []string{site + ".*"}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read votes on %s: %w", site, err)
	}
	defer func() { _ = w.Stop() }()
	votes := map[string]Vote{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read votes on %s: %w", site, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("read votes on %s: the watcher stopped", site)
			}
			if e == nil {
				return votes, nil // the initial values are all delivered
			}
			var v Vote
			if err := json.Unmarshal(e.Value(), &v); err != nil {
				continue // not written by this package; never counts
			}
			votes[strings.TrimPrefix(e.Key(), site+".")] = v
		}
	}
}

// incident returns site's incident and its revision (nil, 0 when none).
func (s *voteStore) incident(ctx context.Context, site string) (*incident, uint64, error) {
	e, err := s.kv.Get(ctx, incidentPrefix+site)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read incident of %s: %w", site, err)
	}
	var inc incident
	if err := json.Unmarshal(e.Value(), &inc); err != nil {
		return nil, e.Revision(), nil // unreadable: treat as none, overwrite it
	}
	return &inc, e.Revision(), nil
}

// putIncident writes site's incident if its revision is still rev (0: the
// key must not exist). Losing the race to another trigger is not an error:
// the other one recorded the same incident.
func (s *voteStore) putIncident(ctx context.Context, site string, inc incident, rev uint64) error {
	data, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	key := incidentPrefix + site
	if rev == 0 {
		_, err = s.kv.Create(ctx, key, data)
	} else {
		_, err = s.kv.Update(ctx, key, data, rev)
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("write incident of %s: %w", site, err)
	}
	return nil
}
