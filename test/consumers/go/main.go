// Go consumer smoke app: uses the Go module that jsii-pacmak built (dist/go, wired in by the
// replace directive in go.mod) with aws-cdk-go at the library's floor, and synthesizes into the
// folder given as the only argument. ../check-assembly.mjs checks the result.
// Keep it in step with ../python/app.py: same stack, same checks.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	pipeline "github.com/example/cdk-serverless-data-pipeline-go/cdkserverlessdatapipeline"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run . <outdir>")
		os.Exit(2)
	}
	defer jsii.Close()
	// test/consumers/migrations (run.sh builds a copy of this app elsewhere and sets SMOKE_MIGRATIONS).
	dir := os.Getenv("SMOKE_MIGRATIONS")
	if dir == "" {
		dir = "../migrations"
	}
	migrations, err := filepath.Abs(dir)
	if err != nil {
		panic(err)
	}

	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(os.Args[1])})
	stack := awscdk.NewStack(app, jsii.String("SmokeGo"), nil)

	// --- CanonicalStore ---
	store := pipeline.NewCanonicalStore(stack, jsii.String("Store"), &pipeline.CanonicalStoreProps{
		Engine:     pipeline.StoreEngine_RDS_POSTGRES,
		Migrations: pipeline.Migrations_FromDirectory(jsii.String(migrations)),
		LambdaTuning: &pipeline.LambdaTuning{
			MemorySize:  jsii.Number(1024),
			Environment: &map[string]*string{"POWERTOOLS_LOG_LEVEL": jsii.String("DEBUG")},
		},
	})

	// The app's own function, connected as the analytics reader.
	reporter := awslambda.NewFunction(stack, jsii.String("ConsumerReporter"), &awslambda.FunctionProps{
		Description: jsii.String("consumer-smoke reporter"),
		Runtime:     awslambda.Runtime_NODEJS_22_X(),
		Handler:     jsii.String("index.handler"),
		Code:        awslambda.Code_FromInline(jsii.String("exports.handler = async () => 'ok';")),
		Vpc:         store.Vpc(),
		VpcSubnets:  store.VpcSubnets(),
		Environment: store.ConnectionEnvironment(pipeline.AccessLevel_ANALYTICS_READER),
	})
	store.GrantConnect(reporter, pipeline.AccessLevel_ANALYTICS_READER, nil)

	// --- IngestionPipeline: a built-in source and one of the app's own (structs, enums, `any` values) ---
	transform := func(t pipeline.TransformType) *pipeline.FieldTransform { return &pipeline.FieldTransform{Type: t} }
	partners := &pipeline.SourceDefinition{
		Name:              jsii.String("smoke-partners"),
		Prefix:            jsii.String("partners/"),
		SourceSystem:      jsii.String("partner"),
		EntityType:        jsii.String("customer"),
		Format:            pipeline.InputFormat_CSV,
		SourceIdField:     jsii.String("partner_id"),
		CanonicalKeyField: jsii.String("email"),
		Fields: &[]*pipeline.FieldMapping{
			{Source: jsii.String("name"), Target: jsii.String("name"), Transforms: &[]*pipeline.FieldTransform{transform(pipeline.TransformType_TRIM)}},
			{Source: jsii.String("email"), Target: jsii.String("email"), Transforms: &[]*pipeline.FieldTransform{
				transform(pipeline.TransformType_TRIM), transform(pipeline.TransformType_LOWER)}},
			{Source: jsii.String("since"), Target: jsii.String("signup_date"), Transforms: &[]*pipeline.FieldTransform{
				{Type: pipeline.TransformType_DATE, Format: jsii.String("dd/MM/yyyy")}}},
			{Source: jsii.String("tier"), Target: jsii.String("segment"), Transforms: &[]*pipeline.FieldTransform{
				{Type: pipeline.TransformType_DEFAULT, Value: jsii.String("standard")}}},
		},
		// Checked at synth (draft 2020-12, strict): every mapped field is defined here.
		Schema: &map[string]interface{}{
			"type":     "object",
			"required": []string{"partner_id", "email"},
			"properties": map[string]interface{}{
				"partner_id": map[string]interface{}{"type": "string"},
				"name":       map[string]interface{}{"type": "string"},
				"email":      map[string]interface{}{"type": "string"},
				"since":      map[string]interface{}{"type": "string"},
				"tier":       map[string]interface{}{"type": []string{"string", "null"}},
			},
		},
	}
	ingestion := pipeline.NewIngestionPipeline(stack, jsii.String("Ingestion"), &pipeline.IngestionPipelineProps{
		Store:   store,
		Sources: &[]*pipeline.SourceDefinition{pipeline.BuiltInSources_CrmCustomers(nil), partners},
	})
	ingestion.OnIngestionSucceeded(jsii.String("PartnersLoaded"), jsii.Strings("smoke-partners"), nil)

	// --- AnalyticsApi: IAM authorization, an operation of the app's own, invoked by the app's function ---
	operations := []*pipeline.UserDefinedOperation{{
		Name: jsii.String("customers_in_country"),
		Sql:  jsii.String("SELECT name, email FROM canonical.customers WHERE country = :country"),
		ParameterSchema: &map[string]interface{}{
			"type":                 "object",
			"properties":           map[string]interface{}{"country": map[string]interface{}{"type": "string", "minLength": 2, "maxLength": 2}},
			"required":             []string{"country"},
			"additionalProperties": false,
		},
	}}
	if os.Getenv("SMOKE_REFUSED_SQL") != "" {
		// The negative case (run.sh): SQL the API's guard refuses is a synth error here too.
		operations = append(operations, &pipeline.UserDefinedOperation{Name: jsii.String("purge_customers"), Sql: jsii.String("DELETE FROM canonical.entities")})
	}
	api := pipeline.NewAnalyticsApi(stack, jsii.String("Analytics"), &pipeline.AnalyticsApiProps{
		Store:          store,
		Authorization:  pipeline.AnalyticsApiAuthorization_IAM,
		UserOperations: &operations,
	})
	api.GrantInvoke(reporter)

	app.Synth(nil)
}
