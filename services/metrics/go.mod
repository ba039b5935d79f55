module github.com/kizuna/kizuna/services/metrics

go 1.26.0
