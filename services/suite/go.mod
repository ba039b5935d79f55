module github.com/kizuna/kizuna/services/suite

go 1.26.0
