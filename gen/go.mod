module github.com/kizuna/kizuna/gen

go 1.25.0
