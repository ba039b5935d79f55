package clvcli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/kizuna/kizuna/services/analytics/clv"
)

// ErrUsage is wrapped by errors caused by bad command-line arguments, so
// callers can exit with a usage status.
var ErrUsage = errors.New("usage error")

// progressThreshold is the transaction count above which progress lines are
// written to stderr; smaller inputs finish before anyone would look.
const progressThreshold = 100_000

const usage = `usage: clv <command> [flags]

commands:
  fit       fit BG/NBD and Gamma-Gamma models, print parameters as JSON
  predict   fit, then write per-customer expected purchases, P(alive) and CLV

run "clv <command> -h" for the command's flags`

// Run executes the clv command line. args are the arguments after "clv",
// so args[0] is "fit" or "predict". Results go to stdout (or --output),
// diagnostics and progress to stderr. -h returns flag.ErrHelp.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: missing command", ErrUsage)
	}
	switch args[0] {
	case "fit":
		return runFit(ctx, args[1:], stdout, stderr)
	case "predict":
		return runPredict(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return flag.ErrHelp
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
}

// inputFlags are shared by fit and predict.
type inputFlags struct {
	transactions   string
	calibrationEnd string
	period         string
	format         string
}

func (f *inputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.transactions, "transactions", "", "transaction file (required)")
	fs.StringVar(&f.calibrationEnd, "calibration-end", "", "last day of the calibration period, YYYY-MM-DD, inclusive (default: last transaction day)")
	fs.StringVar(&f.period, "period", "week", "time unit for recency, T and the horizon: week or day")
	fs.StringVar(&f.format, "format", "csv", "input format: csv (header customer_id,timestamp,amount) or cdnow (fixed width)")
}

// load reads and summarises the transactions.
func (f *inputFlags) load(ctx context.Context, stderr io.Writer) ([]clv.Summary, clv.Period, error) {
	if f.transactions == "" {
		return nil, 0, fmt.Errorf("%w: --transactions is required", ErrUsage)
	}
	period, err := clv.ParsePeriod(f.period)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: --period: %v", ErrUsage, err)
	}
	var read func(io.Reader) ([]clv.Transaction, error)
	switch f.format {
	case "csv":
		read = clv.ReadCSV
	case "cdnow":
		read = clv.ReadCDNOW
	default:
		return nil, 0, fmt.Errorf("%w: --format %q, want csv or cdnow", ErrUsage, f.format)
	}
	var end time.Time
	if f.calibrationEnd != "" {
		if end, err = time.Parse(time.DateOnly, f.calibrationEnd); err != nil {
			return nil, 0, fmt.Errorf("%w: --calibration-end %q, want YYYY-MM-DD", ErrUsage, f.calibrationEnd)
		}
	}
	file, err := os.Open(f.transactions)
	if err != nil {
		return nil, 0, fmt.Errorf("open transactions: %w", err)
	}
	defer file.Close()
	txs, err := read(bufio.NewReaderSize(file, 1<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", f.transactions, err)
	}
	progress := len(txs) > progressThreshold
	if progress {
		fmt.Fprintf(stderr, "clv: read %d transactions\n", len(txs))
	}
	if end.IsZero() {
		for _, tx := range txs {
			if tx.Time.After(end) {
				end = tx.Time
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	summaries, err := clv.Summarize(txs, end, period)
	if err != nil {
		return nil, 0, err
	}
	if progress {
		fmt.Fprintf(stderr, "clv: summarised %d customers up to %s\n", len(summaries), end.Format(time.DateOnly))
	}
	return summaries, period, ctx.Err()
}

// fitted holds the models both commands fit.
type fitted struct {
	clv.Models
	pn *clv.ParetoNBD
}

func fitModels(ctx context.Context, s []clv.Summary, pareto bool) (fitted, error) {
	var f fitted
	var err error
	if f.Models, err = clv.FitModels(s); err != nil {
		return f, err
	}
	if err := ctx.Err(); err != nil {
		return f, err
	}
	if pareto {
		pn, err := clv.FitParetoNBD(s)
		if err != nil {
			return f, err
		}
		f.pn = &pn
	}
	return f, nil
}

// FitOutput is the JSON object printed by "clv fit".
type FitOutput struct {
	Customers       int              `json:"customers"`
	BGNBD           BGNBDJSON        `json:"bgnbd"`
	GammaGamma      *GammaGammaJSON  `json:"gamma_gamma"`
	GammaGammaError string           `json:"gamma_gamma_error,omitempty"`
	ParetoNBD       *ParetoNBDJSON   `json:"pareto_nbd,omitempty"`
	Comparison      []clv.Comparison `json:"comparison,omitempty"`
}

// BGNBDJSON is the BG/NBD part of FitOutput.
type BGNBDJSON struct {
	R             float64 `json:"r"`
	Alpha         float64 `json:"alpha"`
	A             float64 `json:"a"`
	B             float64 `json:"b"`
	LogLikelihood float64 `json:"log_likelihood"`
}

// GammaGammaJSON is the Gamma-Gamma part of FitOutput.
type GammaGammaJSON struct {
	P             float64 `json:"p"`
	Q             float64 `json:"q"`
	V             float64 `json:"v"`
	LogLikelihood float64 `json:"log_likelihood"`
	Customers     int     `json:"customers"`
	Correlation   float64 `json:"frequency_monetary_correlation"`
}

// ParetoNBDJSON is the optional Pareto/NBD part of FitOutput.
type ParetoNBDJSON struct {
	R             float64 `json:"r"`
	Alpha         float64 `json:"alpha"`
	S             float64 `json:"s"`
	Beta          float64 `json:"beta"`
	LogLikelihood float64 `json:"log_likelihood"`
}

func runFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clv fit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var in inputFlags
	in.register(fs)
	pareto := fs.Bool("pareto", false, "also fit the Pareto/NBD and compare it with the BG/NBD (slower)")
	if err := fs.Parse(args); err != nil {
		return wrapFlagErr(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	summaries, _, err := in.load(ctx, stderr)
	if err != nil {
		return fmt.Errorf("clv fit: %w", err)
	}
	f, err := fitModels(ctx, summaries, *pareto)
	if err != nil {
		return fmt.Errorf("clv fit: %w", err)
	}
	out := FitOutput{
		Customers: len(summaries),
		BGNBD:     BGNBDJSON{R: f.BGNBD.R, Alpha: f.BGNBD.Alpha, A: f.BGNBD.A, B: f.BGNBD.B, LogLikelihood: f.BGNBD.LogLikelihood},
	}
	if gg := f.GammaGamma; gg != nil {
		out.GammaGamma = &GammaGammaJSON{P: gg.P, Q: gg.Q, V: gg.V, LogLikelihood: gg.LogLikelihood, Customers: gg.Customers, Correlation: gg.Correlation}
	} else {
		out.GammaGammaError = f.GammaGammaErr.Error()
	}
	if f.pn != nil {
		out.ParetoNBD = &ParetoNBDJSON{R: f.pn.R, Alpha: f.pn.Alpha, S: f.pn.S, Beta: f.pn.Beta, LogLikelihood: f.pn.LogLikelihood}
		out.Comparison = clv.Compare(f.BGNBD, *f.pn)
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("clv fit: write: %w", err)
	}
	return nil
}

func runPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clv predict", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var in inputFlags
	in.register(fs)
	horizon := fs.Float64("horizon", 0, "prediction horizon in periods (default: one year, 52 weeks or 365 days)")
	discount := fs.Float64("discount-rate", clv.DefaultMonthlyDiscount, "discount rate per 30-day month")
	output := fs.String("output", "", "output file (default: stdout)")
	outFormat := fs.String("output-format", "csv", "csv (with header) or jsonl (one JSON object per line)")
	if err := fs.Parse(args); err != nil {
		return wrapFlagErr(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	if *outFormat != "csv" && *outFormat != "jsonl" {
		return fmt.Errorf("%w: --output-format %q, want csv or jsonl", ErrUsage, *outFormat)
	}
	summaries, period, err := in.load(ctx, stderr)
	if err != nil {
		return fmt.Errorf("clv predict: %w", err)
	}
	if *horizon == 0 {
		*horizon = 52
		if period == clv.Day {
			*horizon = 365
		}
	}
	f, err := fitModels(ctx, summaries, false)
	if err != nil {
		return fmt.Errorf("clv predict: %w", err)
	}
	if f.GammaGamma == nil {
		fmt.Fprintf(stderr, "clv predict: no spend model, CLV left at 0: %v\n", f.GammaGammaErr)
	}
	preds, err := f.Predict(summaries, clv.PredictOptions{Horizon: *horizon, Period: period, MonthlyDiscount: *discount})
	if err != nil {
		return fmt.Errorf("clv predict: %w", err)
	}
	if *output == "" {
		if err := writePredictions(stdout, *outFormat, summaries, preds); err != nil {
			return fmt.Errorf("clv predict: write: %w", err)
		}
		return nil
	}
	file, err := os.Create(*output)
	if err != nil {
		return fmt.Errorf("clv predict: %w", err)
	}
	if err := writePredictions(file, *outFormat, summaries, preds); err != nil {
		file.Close()
		return fmt.Errorf("clv predict: write %s: %w", *output, err)
	}
	// Close reports delayed write errors (e.g. a full disk), so it is
	// checked rather than deferred.
	if err := file.Close(); err != nil {
		return fmt.Errorf("clv predict: close %s: %w", *output, err)
	}
	return nil
}

// PredictionRecord is one line of "clv predict --output-format jsonl"; the
// CSV output has the same columns in this order.
type PredictionRecord struct {
	CustomerID        string  `json:"customer_id"`
	Frequency         float64 `json:"frequency"`
	Recency           float64 `json:"recency"`
	T                 float64 `json:"T"`
	MonetaryValue     float64 `json:"monetary_value"`
	ExpectedPurchases float64 `json:"expected_purchases"`
	ProbabilityAlive  float64 `json:"probability_alive"`
	ExpectedSpend     float64 `json:"expected_spend"`
	CLV               float64 `json:"clv"`
}

// PredictionCSVHeader is the header line of the CSV prediction output.
const PredictionCSVHeader = "customer_id,frequency,recency,T,monetary_value,expected_purchases,probability_alive,expected_spend,clv"

func writePredictions(w io.Writer, format string, s []clv.Summary, preds []clv.Prediction) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if format == "jsonl" {
		enc := json.NewEncoder(bw)
		for i, p := range preds {
			if err := enc.Encode(PredictionRecord{
				CustomerID: p.CustomerID, Frequency: s[i].Frequency, Recency: s[i].Recency, T: s[i].T,
				MonetaryValue: s[i].MonetaryValue, ExpectedPurchases: p.ExpectedPurchases,
				ProbabilityAlive: p.ProbabilityAlive, ExpectedSpend: p.ExpectedSpend, CLV: p.CLV,
			}); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
	bw.WriteString(PredictionCSVHeader + "\n")
	var buf []byte
	num := func(v float64) {
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, v, 'g', 8, 64)
	}
	for i, p := range preds {
		buf = appendCSVField(buf[:0], p.CustomerID)
		num(s[i].Frequency)
		num(s[i].Recency)
		num(s[i].T)
		num(s[i].MonetaryValue)
		num(p.ExpectedPurchases)
		num(p.ProbabilityAlive)
		num(p.ExpectedSpend)
		num(p.CLV)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendCSVField quotes a customer ID only when it needs it, which keeps the
// common case free of encoding/csv's per-record allocations.
func appendCSVField(buf []byte, s string) []byte {
	needs := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			needs = true
			break
		}
	}
	if !needs {
		return append(buf, s...)
	}
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			buf = append(buf, '"')
		}
		buf = append(buf, s[i])
	}
	return append(buf, '"')
}

func wrapFlagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUsage, err)
}
