module github.com/kizuna/kizuna/services/platform

go 1.25.0
