module github.com/kizuna/kizuna/services/analytics

go 1.25.0
