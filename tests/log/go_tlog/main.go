// Command go_tlog checks a chainml tiles export with Go's golang.org/x/mod/sumdb/{note,tlog},
// an implementation independent of chainml's: the checkpoint's signature with the verifier key;
// every stored hash recomputed from the entry bundles (tlog.StoredHashes, as sumdb's server
// builds its tree), whose tree hash must be the signed root; and every hash tile Go would
// publish for that tree (paths, widths, contents) compared byte for byte with ours.
//
// Usage: go_tlog DIR VERIFIER_KEY. Prints "ok SIZE ROOT" and exits 0, or exits 1 with a reason.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

// c2spPath maps Go's "tile/8/L/N[.p/W]" and "tile/8/data/N" to C2SP's "tile/L/…", "tile/entries/…".
func c2spPath(t tlog.Tile) string {
	p := strings.Replace(t.Path(), "tile/8/", "tile/", 1)
	return strings.Replace(p, "tile/data/", "tile/entries/", 1)
}

// hashSlice is a tlog.HashReader over stored hashes held in memory, by stored-hash index.
type hashSlice []tlog.Hash

func (s hashSlice) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = s[x]
	}
	return out, nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go_tlog: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: go_tlog DIR VERIFIER_KEY")
	}
	dir := os.Args[1]
	verifier, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("checkpoint body %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("size: %v", err)
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		fail("root %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)
	// Every stored hash, recomputed by Go from the entry bundles alone (as sumdb's server does).
	var stored hashSlice
	for start := int64(0); start < size; start += 1 << height {
		width := size - start
		if width > 1<<height {
			width = 1 << height
		}
		bundle := tlog.Tile{H: height, L: -1, N: start >> height, W: int(width)}
		data, err := os.ReadFile(filepath.Join(dir, c2spPath(bundle)))
		if err != nil {
			fail("%v", err)
		}
		for i := int64(0); i < width; i++ {
			if len(data) < 2 || len(data) < 2+int(binary.BigEndian.Uint16(data)) {
				fail("bundle %s is short", c2spPath(bundle))
			}
			length := int(binary.BigEndian.Uint16(data))
			hashes, err := tlog.StoredHashes(start+i, data[2:2+length], stored)
			if err != nil {
				fail("entry %d: %v", start+i, err)
			}
			stored = append(stored, hashes...)
			data = data[2+length:]
		}
		if len(data) != 0 {
			fail("bundle %s has trailing bytes", c2spPath(bundle))
		}
	}
	computed, err := tlog.TreeHash(size, stored)
	if err != nil || computed != root {
		fail("the entries hash to %v, the checkpoint says %v (%v)", computed, root, err)
	}
	// Every tile Go would publish for this tree exists under the C2SP path, with Go's contents.
	// (sumdb publishes every partial width up to the current one; C2SP needs only the current.)
	for _, t := range tlog.NewTiles(height, 0, size) {
		if t.W != 1<<height && int64(t.W) != (size>>(height*t.L))%(1<<height) {
			continue
		}
		want, err := tlog.ReadTileData(t, stored)
		if err != nil {
			fail("tile %s: %v", c2spPath(t), err)
		}
		have, err := os.ReadFile(filepath.Join(dir, c2spPath(t)))
		if err != nil || !bytes.Equal(have, want) {
			fail("tile %s differs from Go's (%v)", c2spPath(t), err)
		}
	}
	fmt.Printf("ok %d %s\n", size, base64.StdEncoding.EncodeToString(root[:]))
}
