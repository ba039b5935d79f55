// Command metrics runs the metrics service alone (one per pod); -help lists its
// flags and environment variables.
package main

import (
	"github.com/kizuna/kizuna/services/metrics"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

func main() { servicecmd.Main(metrics.Spec()) }
