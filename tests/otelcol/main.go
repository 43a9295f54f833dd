// SPDX-License-Identifier: Apache-2.0
// rf-otelcol: a minimal OpenTelemetry Collector for runfleet's tests. It is
// the upstream collector (otelcol) with the upstream OTLP receiver and one
// exporter of ours, "rfjson", which appends every batch of spans it receives
// to a file as one line of OTLP/JSON (ptrace.JSONMarshaler), so a test reads
// exactly what the collector decoded. The file exporter lives in
// opentelemetry-collector-contrib, whose module graph is far heavier to build.
package main

import (
	"context"
	"errors"
	"log"
	"os"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

type rfjsonConfig struct {
	Path string `mapstructure:"path"`
}

type rfjsonExporter struct {
	path string
	mu   sync.Mutex
	f    *os.File
	m    ptrace.JSONMarshaler
}

func (e *rfjsonExporter) Start(_ context.Context, _ component.Host) error {
	f, err := os.OpenFile(e.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	e.f = f
	return nil
}

func (e *rfjsonExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return nil
	}
	err := e.f.Close()
	e.f = nil
	return err
}

func (e *rfjsonExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (e *rfjsonExporter) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	buf, err := e.m.MarshalTraces(td)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return errors.New("rfjson exporter is not started")
	}
	_, err = e.f.Write(append(buf, '\n'))
	return err
}

func rfjsonFactory() exporter.Factory {
	return exporter.NewFactory(component.MustNewType("rfjson"),
		func() component.Config { return &rfjsonConfig{} },
		exporter.WithTraces(func(_ context.Context, _ exporter.Settings, cfg component.Config) (exporter.Traces, error) {
			c := cfg.(*rfjsonConfig)
			if c.Path == "" {
				return nil, errors.New("rfjson: path is required")
			}
			return &rfjsonExporter{path: c.Path}, nil
		}, component.StabilityLevelDevelopment))
}

func components() (otelcol.Factories, error) {
	var f otelcol.Factories
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](rfjsonFactory()); err != nil {
		return f, err
	}
	f.Telemetry = otelconftelemetry.NewFactory()
	return f, nil
}

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "rf-otelcol", Description: "runfleet test collector", Version: "0.165.0"},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
				DefaultScheme:     "file",
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		log.Fatal(err)
	}
}
