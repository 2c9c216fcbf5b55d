// Package brokertest gives tests a real Apache Kafka broker: the cluster named by
// KAFKA_BROKERS when the caller passes one, otherwise a KRaft single node (combined broker
// and controller) run with java from the Maven-resolved classpath of kafka/broker/pom.xml,
// one per test process, on loopback and free ports, with a bounded heap.
//
// A broker it starts sits behind an in-process proxy: the broker advertises the proxy's
// address, so every client request passes through it, and a spec can hold or drop a
// request (Control) — the real broker's counterpart of kfake's control functions. The
// broker's own traffic (the controller, transaction markers to itself) uses listeners of
// its own and never passes the proxy. Kill sends SIGKILL to the broker's JVM and Restart
// starts it again on the same log directory and ports.
//
// Invariants: a missing java, mvn or classpath, or a broker that does not become ready in
// time, is an error, never a skip (CI must fail, not pass silently). The classpath is
// resolved once per machine into kafka/broker/.cache/lib (git-ignored), under a file lock
// so that test processes started together resolve it once. The broker's JVM dies with the
// test process (parent-death signal) and Stop removes everything it wrote.
package brokertest
