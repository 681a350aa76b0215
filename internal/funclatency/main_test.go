package funclatency

import (
	"testing"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{"funclatency": Main})
}
