package dns_test

import (
	"context"
	"fmt"
	"time"

	"github.com/microdc/mdc/activities/dns"
)

// A planned DNS cutover, as the DNSCutover workflow runs it (there each
// call is an activity and the wait is a durable timer).
func Example_plannedCutover() {
	a, err := dns.New(map[string]dns.SiteConfig{
		"uk": {Servers: []dns.Server{{APIURL: "http://127.1.0.1:8081", APIKey: "resolved-from-the-platform-file", Address: "127.1.0.1:5300"}}},
		"us": {Servers: []dns.Server{{APIURL: "http://127.2.0.1:8081", APIKey: "resolved-from-the-platform-file", Address: "127.2.0.1:5300"}}},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	rec := dns.ReadRecordInput{Site: "uk", Zone: "mdc.example.", Name: "www.mdc.example.", Type: "A"}
	before, err := a.ReadRecord(ctx, rec) // remember the TTL to restore
	if err != nil {
		panic(err)
	}
	oldTTL := before.Servers[0].TTL
	_, _ = a.SetTTL(ctx, dns.SetTTLInput{Site: "uk", Zone: rec.Zone, Name: rec.Name, Type: "A", TTL: 30})
	time.Sleep(time.Duration(oldTTL) * time.Second) // caches forget the long TTL
	_, _ = a.SetRecord(ctx, dns.SetRecordInput{Site: "uk", Zone: rec.Zone, Name: rec.Name, Type: "A", TTL: 30, Records: []string{"127.2.0.2"}})
	if _, err := a.Verify(ctx, dns.VerifyInput{Site: "uk", Name: rec.Name, Type: "A", Expect: []string{"127.2.0.2"}, Deadline: time.Minute}); err != nil {
		fmt.Println("not switched everywhere:", err)
		return
	}
	_, _ = a.SetTTL(ctx, dns.SetTTLInput{Site: "uk", Zone: rec.Zone, Name: rec.Name, Type: "A", TTL: oldTTL})
}
