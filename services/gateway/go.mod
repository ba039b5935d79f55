module github.com/kizuna/kizuna/services/gateway

go 1.25.0
