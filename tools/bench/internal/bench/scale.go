package bench

import (
	"context"
	"fmt"
	"strings"
)

// The scale curve: partitions per instance and instances of each stage.
var (
	curveInstances  = []int{1, 2}
	curvePartitions = []int{1, 2, 4}
)

// scaleCurve runs the pipeline end to end once per point of the curve: 1 and
// 2 enrichers and sinks, each instance holding 1, 2 and 4 partitions of the
// raw and the clean topic, for --duration each, without latency run or
// profiles. fail records a point that failed; the next one still runs.
func (r *run) scaleCurve(ctx context.Context, fail func(string, error)) {
	defer func() { r.parts = 0 }()
	for _, inst := range curveInstances {
		for _, ppi := range curvePartitions {
			if ctx.Err() != nil {
				return
			}
			r.settle(ctx)
			r.parts = inst * ppi
			phase := fmt.Sprintf("scale_%di_%dp", inst, ppi)
			r.log.Info("scale curve", "instances", inst, "partitions", r.parts)
			e, err := r.endToEnd(ctx, phase, inst, false)
			p := ScalePoint{Instances: inst, PartitionsPerInstance: ppi}
			if e != nil {
				p.PerSec, p.ZeroLoss = e.PerSec, e.ZeroLoss
				p.Shares, p.CPUPerEventUs = e.CPUPerEvent()
				p.OthersCPU, p.Seconds = e.OthersCPU(), e.Seconds
				if inst == 2 && inst*ppi == r.cfg.Partitions {
					r.res.Scale = e
				}
			}
			if err != nil {
				p.Err = err.Error()
				fail(phase, err)
			}
			r.res.Curve = append(r.res.Curve, p)
		}
	}
}

// curveSection is the scale curve, each point as a ratio to the first.
func curveSection(points []ScalePoint, judge func(Row, string) Row) Section {
	s := Section{Title: "SCALE CURVE (end to end at full rate per point; ratio to 1 instance × 1 partition)"}
	var first float64
	for _, p := range points {
		name := fmt.Sprintf("%d inst × %d part", p.Instances, p.PartitionsPerInstance)
		if p.Err != "" {
			s.Rows = append(s.Rows, Row{Name: name, Note: "failed: " + p.Err})
			continue
		}
		if first == 0 {
			first = p.PerSec
		}
		shares := make([]string, len(p.Shares))
		for i, sh := range p.Shares {
			shares[i] = fmt.Sprintf("%s %.1f", sh.Name, sh.CPUSeconds)
		}
		row := Row{Name: name, Value: perSec(p.PerSec, "ev/s"), Ref: perSec(first, "ev/s"), Ratio: times(ratio(p.PerSec, first)),
			Note: fmt.Sprintf("CPU %.1f µs per event (%s); %d partitions; other work on the machine %.0f cpu s of the %.0f s", p.CPUPerEventUs, strings.Join(shares, ", "), p.Instances*p.PartitionsPerInstance, p.OthersCPU, p.Seconds)}
		s.Rows = append(s.Rows, judge(row, fmt.Sprintf("scale-%dx%d-zero-loss", p.Instances, p.PartitionsPerInstance)))
	}
	return s
}
