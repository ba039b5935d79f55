module github.com/kizuna/kizuna/services/campaign

go 1.26.0
