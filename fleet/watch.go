package fleet

import (
	"context"
	"encoding/json"

	"github.com/redis/go-redis/v9"
)

// Watch subscribes to the store's notifications and calls onChange with the kind and version of each document
// written, until ctx ends; it then returns ctx's error. go-redis's PubSub pings the connection and re-subscribes
// after an outage; notifications published meanwhile are lost, so onSubscribed (if not nil) is called each time
// the subscription is (re)established, which is when a caller re-reads the documents it holds. Both callbacks
// run on Watch's goroutine, one at a time. A notification that is not this package's is ignored.
func (s *Store) Watch(ctx context.Context, onSubscribed func(), onChange func(kind string, version int64)) error {
	ps := s.rdb.Subscribe(ctx, s.Channel())
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-ch:
			if !ok {
				return ctx.Err()
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" && onSubscribed != nil {
					onSubscribed()
				}
			case *redis.Message:
				var n notification
				if json.Unmarshal([]byte(m.Payload), &n) == nil && checkKind(n.Kind) == nil && n.Version > 0 {
					onChange(n.Kind, n.Version)
				}
			}
		}
	}
}
