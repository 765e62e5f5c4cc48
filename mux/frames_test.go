package mux

import (
	"testing"
	"time"
)

func TestPacerSizesFramesToAMillisecondOfTheRate(t *testing.T) {
	tests := []struct {
		name string
		rate float64 // bytes per second written
		want int
	}{
		{"100 Mbit/s", 12.5e6, minFrame},
		{"1 Gbit/s", 125e6, 122 << 10},
		{"loopback", 1.5e9, maxFrame},
		{"a trickle", 1e3, minFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPacer(nil, 0)
			now := time.Unix(1000, 0)
			p.wrote(0, now) // starts the measure
			// 100 writes spread over two measures.
			step := 2 * rateEvery / 100
			for range 100 {
				now = now.Add(step)
				p.wrote(int(tt.rate*step.Seconds()), now)
			}
			if got := p.size(); got < tt.want*95/100 || got > tt.want*105/100 {
				t.Errorf("frame %d bytes, want about %d", got, tt.want)
			}
		})
	}
}

func TestPacerStartsSmallAfterAPause(t *testing.T) {
	p := newPacer(nil, 0)
	now := time.Unix(1000, 0)
	p.wrote(0, now)
	for range 10 {
		now = now.Add(rateEvery)
		p.wrote(100<<20, now) // far faster than any frame can keep up with
	}
	if p.size() != maxFrame {
		t.Fatalf("frame %d after a fast run, want %d", p.size(), maxFrame)
	}
	p.wrote(1, now.Add(time.Second))
	if p.size() != minFrame {
		t.Errorf("frame %d after a second's pause, want %d", p.size(), minFrame)
	}
}

func TestPacerSetsNotSentLowatFromTheRate(t *testing.T) {
	var set []int
	p := newPacer(func(n int) { set = append(set, n) }, 0)
	now := time.Unix(1000, 0)
	p.wrote(0, now)
	for range 4 { // a gigabit a second: 2 ms is 250 kB
		now = now.Add(rateEvery)
		p.wrote(int(125e6*rateEvery.Seconds()), now)
	}
	if len(set) != 2 || set[0] != minLowat || set[1] < 240e3 || set[1] > 260e3 {
		t.Errorf("TCP_NOTSENT_LOWAT set to %v, want %d at the start, then about 250 kB once", set, minLowat)
	}
	fixed := []int{}
	newPacer(func(n int) { fixed = append(fixed, n) }, 77777).wrote(1, now)
	if len(fixed) != 1 || fixed[0] != 77777 {
		t.Errorf("with a fixed value: set to %v, want [77777]", fixed)
	}
}
