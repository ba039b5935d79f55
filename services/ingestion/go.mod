module github.com/kizuna/kizuna/services/ingestion

go 1.26.0

require (
	github.com/adrg/strutil v0.3.1 // indirect
	github.com/nyaruka/phonenumbers v1.8.1 // indirect
	golang.org/x/net v0.58.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
