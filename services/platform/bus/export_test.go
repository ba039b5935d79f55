package bus

import "context"

// StreamMessages returns how many JetStream messages the stream of kind
// holds (a pack counts once).
func StreamMessages(ctx context.Context, b *Bus, kind string) (uint64, error) {
	s, err := b.js.Stream(ctx, b.StreamName(kind))
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// SetNoPacks sets ConnectOptions.NoPacks on a connected bus.
func SetNoPacks(b *Bus, v bool) { b.noPacks = v }
