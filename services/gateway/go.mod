module github.com/kizuna/kizuna/services/gateway

go 1.26.0
