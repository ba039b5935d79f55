module github.com/kizuna/kizuna/services/analytics

go 1.26.0

require (
	github.com/expr-lang/expr v1.17.8
	gonum.org/v1/gonum v0.17.0
)

require golang.org/x/tools v0.30.0 // indirect
