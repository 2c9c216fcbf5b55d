package esdbtest

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/google/uuid"
)

// featuresService answers ServerFeatures/GetSupportedMethods: the Streams methods the
// emulator implements. BatchAppend is left out, so the client never tries it.
type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
	version string
}

func (f *featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	out := &serverfeatures.SupportedMethods{EventStoreServerVersion: f.version}
	for _, m := range []string{"read", "append", "delete", "tombstone"} {
		out.Methods = append(out.Methods, &serverfeatures.SupportedMethod{
			MethodName: m, ServiceName: "event_store.client.streams.streams"})
	}
	out.Methods = append(out.Methods,
		&serverfeatures.SupportedMethod{MethodName: "read", ServiceName: "event_store.client.gossip.gossip"})
	return out, nil
}

// gossipService answers Gossip/Read: this server alone as the leader, or its cluster.
type gossipService struct {
	gossip.UnimplementedGossipServer
	srv *Server
}

var instanceID = uuid.MustParse("5eb0e5d1-0000-4000-8000-00000000e5db")

func (g *gossipService) Read(context.Context, *shared.Empty) (*gossip.ClusterInfo, error) {
	members := []member{{addr: g.srv.Addr(), alive: true, role: Leader}}
	if g.srv.cluster != nil {
		members = g.srv.cluster.members()
	}
	info := &gossip.ClusterInfo{}
	for i, m := range members {
		host, portText, err := net.SplitHostPort(m.addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(portText, 10, 32)
		if err != nil {
			return nil, err
		}
		state := gossip.MemberInfo_Leader
		switch {
		case !m.alive:
			state = gossip.MemberInfo_Shutdown
		case m.role != Leader:
			state = gossip.MemberInfo_Follower
		}
		id := instanceID
		id[15] = byte(i)
		info.Members = append(info.Members, &gossip.MemberInfo{
			InstanceId:   protoUUID(id),
			TimeStamp:    time.Now().UnixNano() / 100,
			State:        state,
			IsAlive:      m.alive,
			HttpEndPoint: &gossip.EndPoint{Address: host, Port: uint32(port)},
		})
	}
	return info, nil
}
