package histogram_test

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/bpfscope/bpfscope/pkg/histogram"
)

func ExampleWriteLog2() {
	var h histogram.Log2
	for _, latency := range []uint64{1, 2, 3, 3, 5, 9, 12} {
		h.Observe(latency)
	}
	if err := histogram.WriteLog2(os.Stdout, h.Buckets, "usecs"); err != nil {
		fmt.Println(err)
	}
	// Output:
	//      usecs               : count     distribution
	//          0 -> 1          : 1        |*************                           |
	//          2 -> 3          : 3        |****************************************|
	//          4 -> 7          : 1        |*************                           |
	//          8 -> 15         : 2        |**************************              |
}

func ExampleWriteLinear() {
	if err := histogram.WriteLinear(os.Stdout, []uint64{617, 154, 20}, "runqlen"); err != nil {
		fmt.Println(err)
	}
	// Output:
	//      runqlen       : count     distribution
	//         0          : 617      |****************************************|
	//         1          : 154      |*********                               |
	//         2          : 20       |*                                       |
}

func ExampleWriteLog2Sections() {
	perPID := map[uint32][]uint64{
		1234: {0, 3, 10},
		42:   {0, 0, 0, 1},
	}
	sections := histogram.SectionsByKey(perPID, nil)
	if err := histogram.WriteLog2Sections(os.Stdout, "pid", sections, "usecs"); err != nil {
		fmt.Println(err)
	}
	// Output:
	//
	// pid = 42
	//      usecs               : count     distribution
	//          0 -> 1          : 0        |                                        |
	//          2 -> 3          : 0        |                                        |
	//          4 -> 7          : 1        |****************************************|
	//
	// pid = 1234
	//      usecs               : count     distribution
	//          0 -> 1          : 3        |************                            |
	//          2 -> 3          : 10       |****************************************|
}

func ExampleLog2Histogram() {
	h, err := histogram.Log2Histogram([]uint64{0, 3, 10}, "usecs")
	if err != nil {
		fmt.Println(err)
		return
	}
	h.SectionHeader, h.Section = "pid", "1234"
	b, _ := json.Marshal(h)
	fmt.Println(string(b))
	// Output:
	// {"unit":"usecs","section_header":"pid","section":"1234","buckets":[{"low":0,"high":1,"count":3},{"low":2,"high":3,"count":10}]}
}
