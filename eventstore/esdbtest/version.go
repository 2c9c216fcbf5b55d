package esdbtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"strings"
	"time"
)

// Version is a server version, major.minor.patch.
type Version struct{ Major, Minor, Patch int }

// ParseVersion parses "24.10.4" (a missing patch is 0; a suffix such as "-rc.1" is ignored).
func ParseVersion(text string) (Version, error) {
	var v Version
	core, _, _ := strings.Cut(text, "-")
	parts := strings.Split(core, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return v, fmt.Errorf("esdbtest: server version %q: want major.minor.patch", text)
	}
	nums := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("esdbtest: server version %q: want major.minor.patch", text)
		}
		nums[i] = n
	}
	return Version{nums[0], nums[1], nums[2]}, nil
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less orders versions.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// KDB710 reports the defect of 24.2.0–24.10.4: a filtered $all subscription from the start
// that matches nothing during catch-up sends the checkpoint (-1,-1), which reads as
// (MaxUint64, MaxUint64).
func (v Version) KDB710() bool {
	return !v.Less(Version{24, 2, 0}) && !Version{24, 10, 4}.Less(v)
}

// KDB744 reports the defect of 25.0.0: a filtered $all subscription going live sends the
// checkpoint (end of log, 0), whose commit position is the next event's.
func (v Version) KDB744() bool { return v == Version{25, 0, 0} }

// selfSigned makes a throwaway TLS configuration for 127.0.0.1.
func selfSigned() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("esdbtest: tls key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "esdbtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("esdbtest: tls certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, nil
}
