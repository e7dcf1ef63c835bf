package killchild

import (
	"os/exec"
	"testing"
)

func TestRunKillsAfterN(t *testing.T) {
	cmd := exec.Command("sh", "-c", `i=0; while :; do echo $i; i=$((i+1)); done`)
	acked, err := Run(cmd, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(acked) < 10 || acked[0] != 0 || acked[9] != 9 {
		t.Fatalf("acked %v", acked[:min(len(acked), 12)])
	}
}

func TestRunReportsAChildThatExits(t *testing.T) {
	if _, err := Run(exec.Command("sh", "-c", "echo 1; echo oops >&2"), 5); err == nil {
		t.Fatal("a child that exited by itself was not reported")
	}
}
