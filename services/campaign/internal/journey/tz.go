package journey

import (
	"sync"
	"time"

	// Zone data is compiled in: container images have no /usr/share/zoneinfo.
	_ "time/tzdata"
)

var zones sync.Map // name → *time.Location or error

// loadLocation is time.LoadLocation with a cache: every send looks up its
// customer's zone, and LoadLocation parses the zone file each time.
func loadLocation(name string) (*time.Location, error) {
	if v, ok := zones.Load(name); ok {
		if loc, ok := v.(*time.Location); ok {
			return loc, nil
		}
		return nil, v.(error)
	}
	loc, err := time.LoadLocation(name)
	if len(name) > 64 {
		// Do not let arbitrary trait values grow the cache.
		return loc, err
	}
	if err != nil {
		zones.Store(name, err)
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}
