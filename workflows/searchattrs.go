// Package workflows holds mdc's durable workflows. Each is registered under a
// constant name (part of mdc's interface: triggers, the CLI and
// `temporal workflow start` use it) and routes every activity to the task
// queue of the site it touches.
package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attributes the workflows set, so operators can find failovers by
// site and outcome in the Web UI and `temporal workflow list`.
var (
	AttrSite    = temporal.NewSearchAttributeKeyKeyword("MdcSite")
	AttrTarget  = temporal.NewSearchAttributeKeyKeyword("MdcTargetSite")
	AttrService = temporal.NewSearchAttributeKeyKeyword("MdcService")
	AttrMode    = temporal.NewSearchAttributeKeyKeyword("MdcMode")
	AttrOutcome = temporal.NewSearchAttributeKeyKeyword("MdcOutcome")
	AttrRTO     = temporal.NewSearchAttributeKeyFloat64("MdcRTOSeconds")
	AttrRPO     = temporal.NewSearchAttributeKeyFloat64("MdcRPOSeconds")
)

// SearchAttributes lists every custom search attribute with its type, for
// registering them with a Temporal namespace.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	m := map[string]enumspb.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKeyKeyword{AttrSite, AttrTarget, AttrService, AttrMode, AttrOutcome} {
		m[k.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	for _, k := range []temporal.SearchAttributeKeyFloat64{AttrRTO, AttrRPO} {
		m[k.GetName()] = enumspb.INDEXED_VALUE_TYPE_DOUBLE
	}
	return m
}
