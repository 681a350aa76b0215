package histogram

import (
	"math"
	"math/big"
	"strings"
)

// bar renders the distribution bar of val as bcc's _stars(val, max, width):
// floor(width*val/max) stars computed in float64, at most width, with the
// last character replaced by '+' when val exceeds max.
func bar(val, max uint64, width int) string {
	s := strings.Repeat("*", stars(val, max, width))
	if val > max {
		s = strings.TrimSuffix(s, "*") + "+"
	}
	return s
}

func stars(val, max uint64, width int) int {
	switch {
	case val >= max:
		return width
	case max < 1<<40:
		// width*val/max is at least 1/max below the next integer, far
		// more than float64 rounding can cover: integer division agrees.
		return int(uint64(width) * val / max)
	}
	// Python's int/int is correctly rounded to float64 and may round up to
	// the next integer; big.Rat.Float64 rounds the same way.
	q, _ := new(big.Rat).SetFrac(
		new(big.Int).Mul(big.NewInt(int64(width)), new(big.Int).SetUint64(val)),
		new(big.Int).SetUint64(max),
	).Float64()
	return min(width, int(math.Floor(q)))
}
