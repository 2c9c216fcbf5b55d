package esdbtest

import (
	"errors"
	"strings"
	"sync"
	"time"
)

// Cluster is a few emulator nodes that share one database, as a replicated EventStoreDB
// cluster does once writes are committed: one leader, the others followers (see Role),
// gossip that lists every node with its role, and an election after the leader dies.
// Its methods are safe for concurrent use.
type Cluster struct {
	electionDelay time.Duration

	mu     sync.Mutex
	nodes  []*Server
	dead   []bool
	leader int // index into nodes; -1 while electing
	timer  *time.Timer
}

// StartCluster starts size nodes (opts.Addr is ignored: each takes a free port), node 0
// the leader. electionDelay is how long the survivors are not ready after the leader dies
// before the next live node leads.
func StartCluster(size int, opts Options, electionDelay time.Duration) (*Cluster, error) {
	if size < 1 {
		return nil, errors.New("esdbtest: a cluster needs a node")
	}
	c := &Cluster{electionDelay: electionDelay, dead: make([]bool, size)}
	shared := newDB()
	opts.Addr = ""
	for range size {
		n, err := start(opts, shared, c)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

// Nodes are the cluster's nodes, dead ones included, in start order.
func (c *Cluster) Nodes() []*Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Server(nil), c.nodes...)
}

// Leader is the current leader, nil while electing.
func (c *Cluster) Leader() *Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader < 0 {
		return nil
	}
	return c.nodes[c.leader]
}

// Follower is a live follower, nil if there is none.
func (c *Cluster) Follower() *Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.nodes {
		if i != c.leader && !c.dead[i] {
			return n
		}
	}
	return nil
}

// URL lists every node as a gossip seed: esdb://a:1,b:2,c:3?tls=false. The client reads
// gossip and connects to the leader it announces.
func (c *Cluster) URL() string {
	nodes := c.Nodes()
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr()
	}
	return "esdb://" + strings.Join(addrs, ",") + nodes[0].query()
}

// KillLeader stops the leader as if its process died and starts an election: the other
// nodes are not ready until electionDelay has passed, then the next live node leads. It
// returns the dead node (nil if there was no leader).
func (c *Cluster) KillLeader() *Server {
	c.mu.Lock()
	if c.leader < 0 {
		c.mu.Unlock()
		return nil
	}
	old := c.leader
	c.dead[old] = true
	c.leader = -1
	c.timer = time.AfterFunc(c.electionDelay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i := range c.nodes {
			if next := (old + 1 + i) % len(c.nodes); !c.dead[next] {
				c.leader = next
				return
			}
		}
	})
	n := c.nodes[old]
	c.mu.Unlock()
	n.Stop()
	return n
}

// Stop stops every node.
func (c *Cluster) Stop() {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	nodes := append([]*Server(nil), c.nodes...)
	c.mu.Unlock()
	for _, n := range nodes {
		n.Stop()
	}
}

// roleOf is s's role and the leader's address.
func (c *Cluster) roleOf(s *Server) (Role, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader < 0 {
		return NotReady, ""
	}
	leader := c.nodes[c.leader]
	if leader == s {
		return Leader, s.Addr()
	}
	return Follower, leader.Addr()
}

// members is what gossip says: every node, its role and whether it is alive. While
// electing, the survivors still show as followers (gossip lags behind elections).
func (c *Cluster) members() []member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]member, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = member{addr: n.Addr(), alive: !c.dead[i], role: Follower}
		if i == c.leader {
			out[i].role = Leader
		}
	}
	return out
}

type member struct {
	addr  string
	alive bool
	role  Role
}
