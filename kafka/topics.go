package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic is a topic to create when missing.
type Topic struct {
	Name       string
	Partitions int32
	Configs    map[string]*string // e.g. cleanup.policy=compact; nil = broker defaults
}

// Compacted returns configs for a log-compacted topic.
func Compacted() map[string]*string {
	compact := "compact"
	return map[string]*string{"cleanup.policy": &compact}
}

// EnsureTopics creates the topics that do not exist yet, with the broker's default
// replication factor; existing topics are left as they are. Safe to call concurrently.
func EnsureTopics(ctx context.Context, cl *kgo.Client, topics ...Topic) error {
	adm := kadm.NewClient(cl)
	for _, t := range topics {
		res, err := adm.CreateTopic(ctx, t.Partitions, -1, t.Configs, t.Name)
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Name, err)
		}
	}
	return nil
}
