package histogram

// Bucket is one row of a histogram: the count of values in [Low, High].
type Bucket struct {
	Low   uint64 `json:"low"`
	High  uint64 `json:"high"`
	Count uint64 `json:"count"`
}

// Histogram is the JSON form of a histogram; see the package documentation
// for the schema.
type Histogram struct {
	Unit string `json:"unit"`
	// SectionHeader and Section identify the histogram within a keyed set.
	SectionHeader string   `json:"section_header,omitempty"`
	Section       string   `json:"section,omitempty"`
	Buckets       []Bucket `json:"buckets"`
}

// Log2Histogram returns the rows [WriteLog2] would print for buckets.
func Log2Histogram(buckets []uint64, unit string) (Histogram, error) {
	idxMax, _ := scan(buckets)
	if idxMax >= Log2Slots {
		return Histogram{}, errSlot(idxMax)
	}
	h := Histogram{Unit: unit, Buckets: make([]Bucket, 0, max(idxMax, 0))}
	for i := 1; i <= idxMax; i++ {
		low, high := log2Bounds(i)
		h.Buckets = append(h.Buckets, Bucket{low, high, buckets[i]})
	}
	return h, nil
}

// LinearHistogram returns the rows [WriteLinear] would print for buckets.
func LinearHistogram(buckets []uint64, unit string) Histogram {
	idxMax, _ := scan(buckets)
	h := Histogram{Unit: unit, Buckets: make([]Bucket, 0, idxMax+1)}
	for i := 0; i <= idxMax; i++ {
		h.Buckets = append(h.Buckets, Bucket{uint64(i), uint64(i), buckets[i]})
	}
	return h
}
