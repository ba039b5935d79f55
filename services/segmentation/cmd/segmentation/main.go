// Command segmentation runs the segmentation service alone (one per pod); -help lists its
// flags and environment variables.
package main

import (
	"github.com/kizuna/kizuna/services/platform/servicecmd"
	"github.com/kizuna/kizuna/services/segmentation"
)

func main() { servicecmd.Main(segmentation.Spec()) }
