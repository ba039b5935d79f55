module github.com/kizuna/kizuna/services/metrics

go 1.25.0
