// Command ingestion runs the ingestion service alone (one per pod); -help
// lists its flags and environment variables. The offline cleansing tool is
// kizuna-cleanse (or `kizuna cleanse`).
package main

import (
	"github.com/kizuna/kizuna/services/ingestion"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

func main() { servicecmd.Main(ingestion.Spec()) }
