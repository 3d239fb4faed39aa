// tlog-check - evt's tree, tiles, checkpoints and proofs checked by an
// independent implementation: Go's golang.org/x/mod/sumdb/tlog and
// sumdb/note (test/evt-verify.bats builds it with GO111MODULE=off
// GOPATH=/usr/share/gocode from Debian's golang-golang-x-mod-dev).
//
// usage: tlog-check EVT-VERIFY LOG TILES CPDIR VKEY [EVTLOG]
//
// LOG is a file of the log's stored lines, one a line (a file log, or
// what evt-replay prints of any log). With EVTLOG, evt-verify is given
// -l EVTLOG: the log it makes what the tiles lack from, when they are
// behind a checkpoint.
//
// CPDIR holds checkpoints of LOG, each named by its tree size, signed by
// the key whose verifier key is VKEY. For each one, in size order:
//   - note.Open verifies its signature with VKEY;
//   - its root is tlog.TreeHash of the leaves stored with
//     tlog.StoredHashes, each leaf tlog.RecordHash(seq BE || line);
//   - evt-verify --prove gives inclusion proofs (first, middle and last
//     events) that tlog.CheckRecord accepts, equal to tlog.ProveRecord's;
//   - evt-verify --prove-consistency from the size before gives a proof
//     that tlog.CheckTree accepts, equal to tlog.ProveTree's;
//   - a proof from evt's tiles through tlog.TileHashReader (which checks
//     each tile against the root) equals tlog.ProveRecord's.
//
// Prints one line per size on failure and exits 1; "ok N sizes" else.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var failures int

func fail(format string, a ...interface{}) {
	failures++
	fmt.Printf(format+"\n", a...)
}

// evtTiles reads evt's tiles: C2SP's tile/L/N, where Go's Tile.Path
// says tile/8/L/N; a narrower partial is served by a wider or full tile.
type evtTiles struct{ dir string }

func (t evtTiles) Height() int { return 8 }

func (t evtTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tile := range tiles {
		full := tile
		full.W = 1 << 8
		base := strings.TrimPrefix(full.Path(), "tile/8/")
		want := tile.W * 32
		data, err := os.ReadFile(filepath.Join(t.dir, "tile", base))
		if err != nil {
			ents, _ := os.ReadDir(filepath.Join(t.dir, "tile", base+".p"))
			for _, e := range ents {
				if w, _ := strconv.Atoi(e.Name()); w*32 >= want {
					data, err = os.ReadFile(filepath.Join(t.dir,
						"tile", base+".p", e.Name()))
					break
				}
			}
		}
		if err != nil {
			return nil, err
		}
		if len(data) < want {
			return nil, fmt.Errorf("tile %s: %d bytes, want %d", base, len(data), want)
		}
		out[i] = data[:want]
	}
	return out, nil
}

func (t evtTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func run(evt string, args ...string) ([]byte, error) {
	cmd := exec.Command(evt, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", evt, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func b64hashes(lines []string) ([]tlog.Hash, error) {
	var hs []tlog.Hash
	for _, l := range lines {
		b, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("not a hash: %q", l)
		}
		var h tlog.Hash
		copy(h[:], b)
		hs = append(hs, h)
	}
	return hs, nil
}

// parseInclusion: the hashes of a c2sp.org/tlog-proof@v1 and its index.
func parseInclusion(p []byte) (int64, []tlog.Hash, error) {
	parts := strings.SplitN(string(p), "\n\n", 2)
	lines := strings.Split(parts[0], "\n")
	if len(lines) < 2 || lines[0] != "c2sp.org/tlog-proof@v1" ||
		!strings.HasPrefix(lines[1], "index ") {
		return 0, nil, fmt.Errorf("not a tlog-proof: %q", p)
	}
	idx, err := strconv.ParseInt(lines[1][6:], 10, 64)
	if err != nil {
		return 0, nil, err
	}
	hs, err := b64hashes(lines[2:])
	return idx, hs, err
}

func main() {
	if len(os.Args) != 6 && len(os.Args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: tlog-check EVT-VERIFY LOG TILES CPDIR VKEY [EVTLOG]")
		os.Exit(64)
	}
	evt, logf, tiles, cpdir, vkeyf := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	var logArgs []string
	if len(os.Args) == 7 {
		logArgs = []string{"-l", os.Args[6]}
	}
	vkey, err := os.ReadFile(vkeyf)
	if err != nil {
		panic(err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		fmt.Println("note.NewVerifier:", err)
		os.Exit(1)
	}

	// The leaves, stored as tlog stores them.
	f, err := os.Open(logf)
	if err != nil {
		panic(err)
	}
	var stored []tlog.Hash
	var leaves []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for seq := int64(1); sc.Scan(); seq++ {
		data := make([]byte, 8, 8+len(sc.Bytes()))
		binary.BigEndian.PutUint64(data, uint64(seq))
		data = append(data, sc.Bytes()...)
		hs, err := tlog.StoredHashes(seq-1, data, reader)
		if err != nil {
			panic(err)
		}
		stored = append(stored, hs...)
		leaves = append(leaves, tlog.RecordHash(data))
	}
	f.Close()

	ents, err := os.ReadDir(cpdir)
	if err != nil {
		panic(err)
	}
	var sizes []int64
	for _, e := range ents {
		if n, err := strconv.ParseInt(e.Name(), 10, 64); err == nil {
			sizes = append(sizes, n)
		}
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	var prev int64
	var prevHash tlog.Hash
	for _, n := range sizes {
		cpf := filepath.Join(cpdir, strconv.FormatInt(n, 10))
		msg, err := os.ReadFile(cpf)
		if err != nil {
			panic(err)
		}
		nt, err := note.Open(msg, note.VerifierList(verifier))
		if err != nil {
			fail("size %d: note.Open: %v", n, err)
			continue
		}
		lines := strings.Split(nt.Text, "\n")
		size, _ := strconv.ParseInt(lines[1], 10, 64)
		roots, err := b64hashes(lines[2:3])
		if err != nil || size != n {
			fail("size %d: checkpoint body %q", n, nt.Text)
			continue
		}
		root := roots[0]
		th, err := tlog.TreeHash(n, reader)
		if err != nil || th != root {
			fail("size %d: root %v, tlog.TreeHash %v (%v)", n, root, th, err)
			continue
		}
		// Inclusion: evt's proofs, checked and compared.
		for _, seq := range []int64{1, n/2 + 1, n} {
			out, err := run(evt, append(logArgs, "--prove", strconv.FormatInt(seq, 10),
				"--checkpoint", cpf, "--tiles", tiles)...)
			if err != nil {
				fail("size %d seq %d: %v", n, seq, err)
				continue
			}
			idx, p, err := parseInclusion(out)
			if err != nil || idx != seq-1 {
				fail("size %d seq %d: %v (index %d)", n, seq, err, idx)
				continue
			}
			if err := tlog.CheckRecord(tlog.RecordProof(p), n, root, seq-1, leaves[seq-1]); err != nil {
				fail("size %d seq %d: tlog.CheckRecord: %v", n, seq, err)
			}
			gp, err := tlog.ProveRecord(n, seq-1, reader)
			if err != nil || fmt.Sprint(gp) != fmt.Sprint(tlog.RecordProof(p)) {
				fail("size %d seq %d: evt's proof is not tlog.ProveRecord's (%v)", n, seq, err)
			}
			tp, err := tlog.ProveRecord(n, seq-1,
				tlog.TileHashReader(tlog.Tree{N: n, Hash: root}, evtTiles{tiles}))
			if err != nil || fmt.Sprint(tp) != fmt.Sprint(gp) {
				fail("size %d seq %d: from evt's tiles through tlog.TileHashReader: %v", n, seq, err)
			}
		}
		// Consistency with the size before.
		if prev > 0 {
			out, err := run(evt, append(logArgs, "--prove-consistency",
				filepath.Join(cpdir, strconv.FormatInt(prev, 10)),
				"--checkpoint", cpf, "--tiles", tiles)...)
			if err != nil {
				fail("size %d from %d: %v", n, prev, err)
			} else {
				ls := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
				p, err := b64hashes(ls[3:])
				if err != nil || ls[1] != "old "+strconv.FormatInt(prev, 10) {
					fail("size %d from %d: %q", n, prev, out)
				} else if err := tlog.CheckTree(tlog.TreeProof(p), n, root, prev, prevHash); err != nil {
					fail("size %d from %d: tlog.CheckTree: %v", n, prev, err)
				} else if gp, err := tlog.ProveTree(n, prev, reader); err != nil ||
					fmt.Sprint(gp) != fmt.Sprint(tlog.TreeProof(p)) {
					fail("size %d from %d: evt's proof is not tlog.ProveTree's", n, prev)
				}
			}
		}
		prev, prevHash = n, root
	}
	if failures > 0 {
		os.Exit(1)
	}
	fmt.Printf("ok %d sizes\n", len(sizes))
}
