package clv

// DefaultMonthlyDiscount is the monthly discount rate for CLV when the
// caller gives none (1% per 30-day month).
const DefaultMonthlyDiscount = 0.01

// Models are the models CLV needs, fitted to the same summaries: BG/NBD for
// purchase counts and, where it applies, Gamma-Gamma for spend.
type Models struct {
	BGNBD BGNBD
	// GammaGamma is nil when the spend model could not be fitted;
	// GammaGammaErr then says why (e.g. ErrDependentSpend, or too few repeat
	// customers), and CLV is left at 0 by Predict.
	GammaGamma    *GammaGamma
	GammaGammaErr error
}

// FitModels fits BG/NBD and then Gamma-Gamma to summaries. Only a BG/NBD
// failure is returned: a spend model that does not apply should not hide
// the purchase model, so its error is kept in GammaGammaErr instead.
func FitModels(summaries []Summary) (Models, error) {
	var m Models
	var err error
	if m.BGNBD, err = FitBGNBD(summaries); err != nil {
		return Models{}, err
	}
	if gg, err := FitGammaGamma(summaries); err != nil {
		m.GammaGammaErr = err
	} else {
		m.GammaGamma = &gg
	}
	return m, nil
}

// Predict is Predict with m's models.
func (m Models) Predict(summaries []Summary, opts PredictOptions) ([]Prediction, error) {
	return Predict(m.BGNBD, m.GammaGamma, summaries, opts)
}
