package clv

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
)

// maxLogParam bounds |log θ| for every fitted parameter. Beyond e^±30 the
// likelihood is flat to machine precision, so an optimiser that wanders
// there is chasing a boundary optimum the data do not support.
const maxLogParam = 30

// maxIdentifiedLogParam is the largest |log θ| accepted in a result
// (θ between 3e-7 and 3e6). Estimates beyond it come from data that do not
// identify the model, such as two identical customers, and would produce
// meaningless predictions, so they are reported as ErrNotConverged.
const maxIdentifiedLogParam = 15

// maxIterations bounds each optimiser run so degenerate data cannot hang.
const maxIterations = 1000

// objective evaluates the negative mean log-likelihood at log-parameters x
// and, when grad is non-nil, its gradient with respect to x.
type objective func(x, grad []float64) float64

// minimizeLog minimises f over log-parameters starting at init. It tries
// BFGS when f provides gradients, falling back to Nelder-Mead, and returns
// ErrNotConverged unless the optimum is finite and inside the bounds.
func minimizeLog(f objective, init []float64, hasGrad bool) ([]float64, float64, error) {
	guarded := func(x, grad []float64) float64 {
		for _, v := range x {
			if math.Abs(v) > maxLogParam || math.IsNaN(v) {
				for i := range grad {
					grad[i] = 0
				}
				return math.Inf(1)
			}
		}
		v := f(x, grad)
		if math.IsNaN(v) {
			return math.Inf(1)
		}
		return v
	}
	// The last evaluation is cached: BFGS asks for the value and the
	// gradient at the same point separately, and they share all their
	// expensive terms. The gradient is computed only while the method in use
	// reads it (withGrad), so Nelder-Mead neither computes nor allocates it.
	var (
		cached   bool
		lastX    = make([]float64, len(init))
		lastG    []float64
		lastF    float64
		withGrad = hasGrad
	)
	if hasGrad {
		lastG = make([]float64, len(init))
	}
	eval := func(x []float64) float64 {
		if cached && slices.Equal(x, lastX) {
			return lastF
		}
		var g []float64
		if withGrad {
			g = lastG
		}
		lastF = guarded(x, g)
		copy(lastX, x)
		cached = true
		return lastF
	}
	problem := optimize.Problem{Func: eval}
	var method optimize.Method = &optimize.NelderMead{}
	if hasGrad {
		problem.Grad = func(grad, x []float64) {
			eval(x)
			copy(grad, lastG)
		}
		method = &optimize.BFGS{}
	}
	settings := &optimize.Settings{
		MajorIterations: maxIterations,
		FuncEvaluations: 20 * maxIterations,
		Converger:       &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-12, Iterations: 20},
	}
	if hasGrad {
		settings.GradientThreshold = 1e-7
	}
	res, err := optimize.Minimize(problem, init, settings, method)
	if hasGrad && (err != nil || res == nil || !usable(res.X, res.F)) {
		// A line search that fails at the optimum (flat to rounding) is
		// harmless; one that fails elsewhere, e.g. on the +Inf wall of the
		// bounds, is not. Nelder-Mead only compares values and copes with
		// both, so it finishes the job from wherever BFGS stopped.
		start := init
		if res != nil && usable(res.X, res.F) {
			g := make([]float64, len(init))
			guarded(res.X, g)
			if floats.Norm(g, math.Inf(1)) < 1e-5 {
				return finish(res, nil)
			}
			start = res.X
		}
		problem.Grad = nil
		withGrad = false
		res, err = optimize.Minimize(problem, start, settings, &optimize.NelderMead{})
	}
	return finish(res, err)
}

// finish turns an optimiser outcome into minimizeLog's result.
func finish(res *optimize.Result, err error) ([]float64, float64, error) {
	if res == nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrNotConverged, err)
	}
	if !usable(res.X, res.F) {
		return nil, 0, fmt.Errorf("%w: no finite optimum found", ErrNotConverged)
	}
	for _, v := range res.X {
		if math.Abs(v) > maxIdentifiedLogParam {
			return nil, 0, fmt.Errorf("%w: estimate at the edge of the parameter space (parameters %.3g): the data do not identify the model, e.g. too few customers or repeat purchases", ErrNotConverged, expAll(res.X))
		}
	}
	if err != nil && !errors.Is(err, optimize.ErrLinesearcherFailure) && !errors.Is(err, optimize.ErrNoProgress) {
		return nil, 0, fmt.Errorf("%w: %v", ErrNotConverged, err)
	}
	switch res.Status {
	case optimize.IterationLimit, optimize.FunctionEvaluationLimit:
		return nil, 0, fmt.Errorf("%w: %v after %d iterations", ErrNotConverged, res.Status, res.Stats.MajorIterations)
	}
	return res.X, res.F, nil
}

func expAll(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = math.Exp(v)
	}
	return out
}

// usable reports whether an optimum is finite and clear of the bounds.
func usable(x []float64, f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return false
	}
	for _, v := range x {
		if math.IsNaN(v) || math.Abs(v) > maxLogParam-5 {
			return false
		}
	}
	return true
}
