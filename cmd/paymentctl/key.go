package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/paystream/paystream/access"
)

// keyCmd makes API keys for paymentd's configuration without paymentd:
//
//	paymentctl key new NAME ROLE   a fresh token (shown once) and its configuration line
//	paymentctl key hash [ROLE NAME] the hash of a token read from stdin
func keyCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() < 1 {
		fmt.Fprintln(stderr, "usage: paymentctl key new NAME merchant|operator|auditor | paymentctl key hash < token")
		return errUsage
	}
	switch fs.Arg(0) {
	case "new":
		if fs.NArg() != 3 || !access.Role(fs.Arg(2)).Valid() {
			fmt.Fprintln(stderr, "usage: paymentctl key new NAME merchant|operator|auditor")
			return errUsage
		}
		t := access.NewToken()
		k := access.Key{Name: fs.Arg(1), Role: access.Role(fs.Arg(2)), Hash: access.HashOf(t)}
		if _, err := access.ParseKeys(strings.NewReader(k.String())); err != nil {
			fmt.Fprintln(stderr, "paymentctl key new:", err)
			return errUsage
		}
		fmt.Fprintf(stdout, "key:  %s\n", t.Reveal())
		fmt.Fprintf(stdout, "line: %s\n", k)
		fmt.Fprintln(stderr, "Give the key to its holder; it is shown only now. Add the line to PAYSTREAM_API_KEYS_FILE "+
			"(then SIGHUP paymentd) or, as name:role:hash, to PAYSTREAM_API_KEYS (then restart it).")
		return nil
	case "hash":
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("key hash: read the token from stdin: %w", err)
		}
		fmt.Fprintln(stdout, access.HashOf(access.Token(strings.TrimSpace(line))))
		return nil
	}
	fmt.Fprintf(stderr, "paymentctl key: unknown command %q (new, hash)\n", fs.Arg(0))
	return errUsage
}
