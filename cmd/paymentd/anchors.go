package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/localkv"
)

func readAnchorKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := audit.ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err) // never the key itself
	}
	return k, nil
}

// anchorKey is the anchors' signing key: PAYSTREAM_ANCHOR_KEY_FILE's; in the embedded
// default one made once and kept in the data directory (anchor.key, 0600) or, in memory,
// for this run; otherwise none (anchors off).
func anchorKey(cfg Config) (ed25519.PrivateKey, error) {
	if cfg.Access.AnchorKeyFile != "" {
		k, err := readAnchorKey(cfg.Access.AnchorKeyFile)
		if err != nil {
			return nil, fmt.Errorf("PAYSTREAM_ANCHOR_KEY_FILE: %w", err)
		}
		return k, nil
	}
	if !cfg.Access.DevKeys {
		return nil, nil
	}
	if cfg.DataDir == "" {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	path := filepath.Join(cfg.DataDir, "anchor.key")
	k, err := readAnchorKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, k, _ = ed25519.GenerateKey(rand.Reader)
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("PAYSTREAM_DATA_DIR: %w", err)
		}
		err = os.WriteFile(path, []byte(audit.FormatKey(k)+"\n"), 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("PAYSTREAM_DATA_DIR: %w", err)
	}
	return k, nil
}

// startAnchors records anchors every PAYSTREAM_ANCHOR_INTERVAL until stop; nil when anchors
// are off. With the embedded store's data directory the anchored heads live in its anchors
// database rather than in memory (the embedded store makes this the only process recording
// anchors in it, which audit.WithHeadsIn needs).
func startAnchors(cfg Config, store audit.AnchorStore, log *slog.Logger) (an *audit.Anchorer, stop func(), err error) {
	key, err := anchorKey(cfg)
	if err != nil {
		return nil, nil, err
	}
	if key == nil || cfg.Access.AnchorInterval == 0 {
		log.Warn("anchors off: set PAYSTREAM_ANCHOR_KEY_FILE and PAYSTREAM_ANCHOR_INTERVAL to record signed anchors")
		return nil, func() {}, nil
	}
	var opts []audit.AnchorerOption
	if cfg.DataDir != "" && cfg.EventStoreURL == "" {
		db, err := localkv.Open(filepath.Join(cfg.DataDir, "anchors"))
		if err != nil {
			return nil, nil, fmt.Errorf("PAYSTREAM_DATA_DIR: anchors: %w", err)
		}
		opts = append(opts, audit.WithHeadsIn(db))
	}
	an = audit.NewAnchorer(store, key, log, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := an.Run(ctx, cfg.Access.AnchorInterval); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("anchorer stopped", "err", err)
		}
	}()
	return an, func() {
		cancel()
		<-done
		if err := an.Close(); err != nil {
			log.Warn("closing the anchorer", "err", err)
		}
	}, nil
}
