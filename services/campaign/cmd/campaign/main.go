// Command campaign runs the campaign service alone (one per pod); -help lists its
// flags and environment variables.
package main

import (
	"github.com/kizuna/kizuna/services/campaign"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

func main() { servicecmd.Main(campaign.Spec()) }
