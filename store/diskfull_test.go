//go:build linux

package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// diskFullEnv switches the test binary into the child of TestUpdateReportsDiskFull.
const diskFullEnv = "STEPUP_STORE_DISKFULL_DB"

// TestUpdateReportsDiskFull runs writers in a child process whose file size limit
// (RLIMIT_FSIZE, the unprivileged stand-in for a full disk) stops bbolt from growing
// the file. Update must return an error rather than nil, and every write it did
// acknowledge must be in the file afterwards.
func TestUpdateReportsDiskFull(t *testing.T) {
	if path := os.Getenv(diskFullEnv); path != "" {
		diskFullChild(t, path)
		return
	}

	path := newPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestUpdateReportsDiskFull$")
	cmd.Env = append(os.Environ(), diskFullEnv+"="+path)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}

	acked, failure := parseChild(out)
	t.Logf("child acknowledged %d writes, then: %s", len(acked), failure)
	if len(acked) == 0 || !strings.HasPrefix(failure, "unavailable=true ") {
		t.Fatalf("child acked %d writes and failed with %q; want acks, then ErrUnavailable",
			len(acked), failure)
	}

	s := openAt(t, path, testKey(1))
	view(t, s, func(tx *Tx) error {
		for _, id := range acked {
			if _, err := tx.User(id); err != nil {
				t.Errorf("acknowledged user %s: %v", id, err)
			}
		}
		return nil
	})
	update(t, s, func(tx *Tx) error { return tx.CreateUser(newUser("after", "after")) })
}

// parseChild reads the child's "ack <id>" and "fail <error>" lines.
func parseChild(out []byte) (acked []string, failure string) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked = append(acked, id)
		} else if msg, ok := strings.CutPrefix(sc.Text(), "fail "); ok {
			failure = msg
		}
	}
	return acked, failure
}

// diskFullChild writes users until Update fails, reporting each acknowledged write.
func diskFullChild(t *testing.T, path string) {
	limit := &syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, limit); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{MasterKey: testKey(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	pad := strings.Repeat("x", 4000)
	for i := range 10000 {
		u := newUser(fmt.Sprint("u", i), fmt.Sprint("user", i))
		u.PasswordHash = pad
		err := s.Update(func(tx *Tx) error { return tx.CreateUser(u) })
		if err != nil {
			fmt.Printf("fail unavailable=%t %v\n", errors.Is(err, ErrUnavailable), err)
			return
		}
		fmt.Printf("ack %s\n", u.ID)
	}
	t.Error(errors.New("the file size limit never stopped a write"))
}
