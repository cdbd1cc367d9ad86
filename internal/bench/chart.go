package bench

import (
	"cmp"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Chart geometry, in pixels.
const (
	ChartWidth  = 960
	ChartHeight = 540

	plotLeft   = 90
	plotRight  = ChartWidth - 190
	plotTop    = 60
	plotBottom = ChartHeight - 70
)

var (
	chartBG   = color.RGBA{255, 255, 255, 255}
	chartInk  = color.RGBA{40, 40, 40, 255}
	chartGrid = color.RGBA{225, 225, 225, 255}
	// A palette that stays apart for the colour-blind (Okabe–Ito).
	chartPalette = []color.RGBA{
		{0, 114, 178, 255}, {230, 159, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
		{86, 180, 233, 255}, {213, 94, 0, 255}, {240, 228, 66, 255}, {0, 0, 0, 255},
	}
)

// series is one line of the chart: a batch size (of one target).
type series struct {
	name   string
	batch  int
	label  string
	points map[int][]float64 // connections → throughputs (averaged when repeated)
}

// WriteChart draws results as a PNG at path: throughput (entries/s, see
// Result.Throughput) against connections, one line per batch size (and per
// target, when the results come from several), with axis labels and a legend.
func WriteChart(path string, results []Result) error {
	img, err := drawChart(results)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func drawChart(results []Result) (*image.RGBA, error) {
	if len(results) == 0 {
		return nil, errors.New("chart: no results")
	}
	labels := map[string]bool{}
	kinds := map[string]bool{}
	for i := range results {
		labels[results[i].Label] = true
		kinds[results[i].throughputKind()] = true
	}
	byKey := map[string]*series{}
	var all []*series
	var xs []int
	ymax := 0.0
	for i := range results {
		r := &results[i]
		key := fmt.Sprintf("batch %d", r.Batch)
		if r.Batch == 1 {
			key = "single entries"
		}
		if len(labels) > 1 {
			key = r.Label + ", " + key
		}
		s := byKey[key]
		if s == nil {
			s = &series{name: key, batch: r.Batch, label: r.Label, points: map[int][]float64{}}
			byKey[key] = s
			all = append(all, s)
		}
		y := r.Throughput()
		s.points[r.Connections] = append(s.points[r.Connections], y)
		if !slices.Contains(xs, r.Connections) {
			xs = append(xs, r.Connections)
		}
		ymax = max(ymax, y)
	}
	slices.Sort(xs)
	slices.SortFunc(all, func(a, b *series) int {
		return cmp.Or(cmp.Compare(a.label, b.label), cmp.Compare(a.batch, b.batch))
	})

	img := image.NewRGBA(image.Rect(0, 0, ChartWidth, ChartHeight))
	draw.Draw(img, img.Bounds(), image.NewUniform(chartBG), image.Point{}, draw.Src)

	// Y axis: 0 to a round number, five steps, with grid lines.
	step := niceStep(ymax / 5)
	top := step * math.Ceil(ymax/step)
	if top == 0 {
		top, step = 1, 0.2
	}
	yPix := func(v float64) float64 { return plotBottom - v/top*(plotBottom-plotTop) }
	for v := 0.0; v <= top+step/2; v += step {
		y := int(math.Round(yPix(v)))
		hline(img, plotLeft, plotRight, y, chartGrid)
		s := shortNumber(v)
		text(img, plotLeft-8-textWidth(s), y+4, s, chartInk)
	}
	// X axis: the connection counts, evenly spaced (they usually double).
	xPix := func(i int) float64 {
		if len(xs) == 1 {
			return (plotLeft + plotRight) / 2
		}
		return plotLeft + 30 + float64(i)*float64(plotRight-plotLeft-60)/float64(len(xs)-1)
	}
	for i, x := range xs {
		px := int(math.Round(xPix(i)))
		vline(img, px, plotTop, plotBottom, chartGrid)
		vline(img, px, plotBottom, plotBottom+5, chartInk)
		s := fmt.Sprint(x)
		text(img, px-textWidth(s)/2, plotBottom+20, s, chartInk)
	}
	hline(img, plotLeft, plotRight, plotBottom, chartInk)
	vline(img, plotLeft, plotTop, plotBottom, chartInk)

	// Labels and title.
	xl := "connections"
	text(img, (plotLeft+plotRight)/2-textWidth(xl)/2, plotBottom+48, xl, chartInk)
	yl := "entries/s"
	if len(kinds) == 1 {
		for k := range kinds {
			yl += " (" + k + ")"
		}
	}
	textUp(img, 22, (plotTop+plotBottom)/2+textWidth(yl)/2, yl, chartInk)
	r0 := &results[0]
	title := "LogFlux bench: throughput against connections"
	if len(labels) == 1 && r0.Label != "" {
		title = r0.Label + ": throughput against connections"
	}
	text(img, plotLeft, 26, title, chartInk)
	sub := fmt.Sprintf("%d-byte payloads over %s; a point is one run (the mean of repeated runs)", r0.PayloadBytes, r0.Transport)
	text(img, plotLeft, 44, sub, chartInk)

	// The lines, then the legend.
	for si, s := range all {
		c := chartPalette[si%len(chartPalette)]
		var prev *[2]float64
		for i, x := range xs {
			ys, ok := s.points[x]
			if !ok {
				prev = nil
				continue
			}
			p := [2]float64{xPix(i), yPix(mean(ys))}
			if prev != nil {
				thickLine(img, prev[0], prev[1], p[0], p[1], 1.6, c)
			}
			disc(img, p[0], p[1], 4, c)
			prev = &p
		}
		ly := plotTop + 10 + si*22
		thickLine(img, plotRight+20, float64(ly), plotRight+50, float64(ly), 1.6, c)
		disc(img, plotRight+35, float64(ly), 4, c)
		text(img, plotRight+58, ly+4, s.name, chartInk)
	}
	return img, nil
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// shortNumber writes 250000 as 250k and 1500000 as 1.5M.
func shortNumber(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	default:
		return trimZero(fmt.Sprintf("%.1f", v))
	}
}

func trimZero(s string) string {
	for len(s) > 1 && s[len(s)-1] == '0' && slices.Contains([]byte(s), '.') {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

var face = basicfont.Face7x13

func textWidth(s string) int { return font.MeasureString(face, s).Round() }

// text draws s with its baseline at y.
func text(img draw.Image, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// textUp draws s turned a quarter left (reading upwards), starting at
// (x, y) and going up.
func textUp(img *image.RGBA, x, y int, s string, c color.Color) {
	w, h := textWidth(s), 13
	tmp := image.NewRGBA(image.Rect(0, 0, w, h))
	text(tmp, 0, 10, s, c)
	for ty := range h {
		for tx := range w {
			if _, _, _, a := tmp.At(tx, ty).RGBA(); a > 0 {
				img.Set(x+ty-h, y-tx, tmp.At(tx, ty))
			}
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

// disc fills a circle of radius r around (cx, cy).
func disc(img *image.RGBA, cx, cy, r float64, c color.RGBA) {
	for y := int(cy - r - 1); y <= int(cy+r+1); y++ {
		for x := int(cx - r - 1); x <= int(cx+r+1); x++ {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			if dx*dx+dy*dy <= r*r {
				img.SetRGBA(x, y, c)
			}
		}
	}
}

// thickLine stamps discs of radius r along the segment.
func thickLine(img *image.RGBA, x0, y0, x1, y1, r float64, c color.RGBA) {
	n := int(math.Hypot(x1-x0, y1-y0)*2) + 1
	for i := 0; i <= n; i++ {
		t := float64(i) / float64(n)
		disc(img, x0+t*(x1-x0), y0+t*(y1-y0), r, c)
	}
}
