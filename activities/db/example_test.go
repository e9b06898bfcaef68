package db_test

import (
	"context"
	"fmt"
	"time"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/apperrors"
)

// A planned switchover from uk to us, the sequence FailoverSite runs (as
// activities on each site's task queue). Secrets come resolved from the
// platform file; the DSNs name no database.
func ExampleActivities_Promote() {
	acts := db.New(map[string]db.SiteConfig{
		"uk": {Address: "127.1.0.1:3306", DSN: "mdc_admin:secret@tcp(127.1.0.1:3306)/", ReplicationUser: "mdc_repl", ReplicationPassword: "secret"},
		"us": {Address: "127.2.0.1:3306", DSN: "mdc_admin:secret@tcp(127.2.0.1:3306)/", ReplicationUser: "mdc_repl", ReplicationPassword: "secret"},
	})
	defer db.Close(acts)
	ctx := context.Background()

	if _, err := acts.Fence(ctx, db.FenceInput{Site: "uk", KillSessions: true, AppUser: "mdc_app"}); err != nil {
		// Unavailable: uk is down; fence its traffic instead and go on.
		fmt.Println("uk unfenced:", apperrors.TypeOf(err))
	}
	uk, _ := acts.ReplicationStatus(ctx, db.ReplicationStatusInput{Site: "uk"})
	if uk.GTIDBinlogPos != "" {
		_, _ = acts.WaitForGTID(ctx, db.WaitForGTIDInput{Site: "us", GTID: uk.GTIDBinlogPos, Timeout: 30 * time.Second})
	}
	res, err := acts.Promote(ctx, db.PromoteInput{Site: "us", MaxLag: 5 * time.Second, PrimaryGTID: uk.GTIDBinlogPos})
	if apperrors.Is(err, apperrors.TypeReplicaLag) {
		return // ask the operator (approval gate), then retry with Force
	}
	fmt.Printf("promoted: RPO %.3fs (%s)\n", res.LagSeconds, res.LagSource)
	_, _ = acts.Repoint(ctx, db.RepointInput{Site: "uk", PrimarySite: "us"})
}
