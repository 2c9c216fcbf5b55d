package audit

import (
	"fmt"

	"github.com/paystream/paystream/eventstore"
)

// Kinds of finding.
const (
	Edited    = "edited"    // the event's content no longer matches its hash, or its hash was recomputed
	Removed   = "removed"   // events are missing (by their original revisions, or after an anchored head)
	Inserted  = "inserted"  // an event that is not part of the chain, or a copy of one that is
	Reordered = "reordered" // an event sits at another revision than the one it was written at
	Rewritten = "rewritten" // the stream differs from a signed anchor although its chain holds
)

// Finding is one thing wrong with a stream, at the revision (as stored now) where it shows.
type Finding struct {
	Revision eventstore.Revision `json:"revision"`
	Kind     string              `json:"kind"`
	Detail   string              `json:"detail"`
}

// StreamReport is what VerifyStream found.
type StreamReport struct {
	Stream string `json:"stream"`
	Events int    `json:"events"`
	// PreChain events (revisions 0 … PreChain-1) were recorded before events carried hashes.
	PreChain int       `json:"preChain"`
	Head     Head      `json:"head"`
	Intact   bool      `json:"intact"`
	Findings []Finding `json:"findings,omitempty"`
}

// Head is a stream's last event as the chain sees it.
type Head struct {
	Revision eventstore.Revision `json:"revision"`
	Hash     string              `json:"hash,omitempty"`
}

// searchWindow bounds how far from its place an event's original revision is looked for.
const searchWindow = 256

// VerifyStream checks a stream's chain: every hashed event's content against its hash, and
// each event's link to its predecessor. It recovers the revision each event was written at
// (the hash covers it) and so tells an edit from a removal, an insertion or a reordering,
// and says at which revision. anchored, when set, is the stream's head as a signed anchor
// recorded it: a stream rewritten consistently since (every hash recomputed) differs from
// it. Safe for concurrent use; it reads only its arguments.
func VerifyStream(stream string, events []eventstore.RecordedEvent, anchored *Head) StreamReport {
	rep := StreamReport{Stream: stream, Events: len(events), Head: Head{Revision: eventstore.NoStream}}
	n := len(events)
	links := make([]Links, n)
	for i, e := range events {
		links[i] = LinksOf(e.Metadata)
	}
	for rep.PreChain < n && links[rep.PreChain].Hash == "" {
		rep.PreChain++
	}
	if n > 0 {
		rep.Head = Head{Revision: events[n-1].Revision, Hash: links[n-1].Hash}
	}
	add := func(i int, kind, format string, args ...any) {
		rep.Findings = append(rep.Findings, Finding{Revision: eventstore.Revision(i), Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
	// orig[i] is the revision event i was written at (its hash matches there), -1 if none.
	orig := make([]int, n)
	for i := rep.PreChain; i < n; i++ {
		orig[i] = -1
		if links[i].Hash == "" {
			continue
		}
		for d := 0; d <= searchWindow && orig[i] < 0; d++ {
			for _, r := range []int{i + d, i - d} {
				if r < 0 || (d == 0 && r != i) || orig[i] >= 0 {
					continue
				}
				if h, err := Seal(stream, eventstore.Revision(r), events[i].Type, events[i].Data, events[i].Metadata); err == nil && h == links[i].Hash {
					orig[i] = r
				}
			}
		}
	}
	seen := map[int]bool{}
	want, prev := rep.PreChain, -1 // next original revision expected; index of the last event in the chain
	prevHash := ""
	for i := rep.PreChain; i < n; i++ {
		if orig[i] < 0 {
			// Not sealed as it stands: inserted when the next event skips it, else edited.
			if i+1 < n && links[i+1].Hash != "" && links[i+1].PrevHash == prevHash && orig[i+1] == want {
				if links[i].Hash == "" {
					add(i, Inserted, "revision %d carries no hash after the chain began, and revision %d links past it", i, i+1)
				} else {
					add(i, Inserted, "revision %d does not match its hash, and revision %d links past it", i, i+1)
				}
				continue
			}
			if links[i].Hash == "" {
				add(i, Edited, "revision %d lost its hash (its metadata was rewritten)", i)
			} else {
				add(i, Edited, "revision %d's content does not match its hash", i)
			}
			want, prev, prevHash = want+1, i, links[i].Hash
			continue
		}
		o := orig[i]
		switch {
		case seen[o]:
			add(i, Inserted, "revision %d is a copy of the event written at revision %d", i, o)
			continue
		case o == want:
			// Its predecessor is the event written just before it: the link must hold.
			if prev >= 0 && orig[prev] == o-1 && links[i].PrevHash != prevHash {
				add(prev, Edited, "revision %d was changed and its hash recomputed: revision %d links to another predecessor", prev, i)
			}
		case o > want:
			later := false
			for j := i + 1; j < n; j++ {
				later = later || (orig[j] >= want && orig[j] < o)
			}
			if later {
				add(i, Reordered, "revision %d holds the event written at revision %d", i, o)
			} else if o-1 == want {
				add(i, Removed, "the event written at revision %d is missing before revision %d", want, i)
			} else {
				add(i, Removed, "the events written at revisions %d–%d are missing before revision %d", want, o-1, i)
			}
		default: // o < want: it belongs earlier
			add(i, Reordered, "revision %d holds the event written at revision %d", i, o)
		}
		seen[o] = true
		want, prev, prevHash = max(want, o+1), i, links[i].Hash
	}
	if anchored != nil && anchored.Hash != "" {
		switch r := int(anchored.Revision); {
		case r >= n:
			add(n, Removed, "a signed anchor recorded revision %d; the stream ends at %d", r, n-1)
		case links[r].Hash != anchored.Hash:
			add(r, Rewritten, "revision %d differs from the signed anchor (the stream was rewritten with recomputed hashes)", r)
		}
	}
	rep.Intact = len(rep.Findings) == 0
	return rep
}
