import Foundation
import Network
import Testing
import Training

@Suite("Training config")
struct TrainingConfigTests {
    @Test func defaultsAreThePapers() throws {
        let config = TrainingConfig()
        #expect(config.globalBatch == 64 && config.learningRate == 1e-4 && config.epsilon == 1e-7)
        #expect(config.preset == "small" && config.imageSize == 256 && config.dropout == 0.1)
        try config.validate()
        try TrainingConfig.tiny.validate()
    }

    @Test func yamlOverridesTheKeysItNamesAndRoundTrips() throws {
        let config = try TrainingConfig(yaml: "global_batch: 32\nlearning_rate: 3.0e-4\nbn_mode: groups=4\noverlap: false\n")
        #expect(config.globalBatch == 32 && config.learningRate == 3e-4 && config.bnGroups == 4 && !config.overlap)
        #expect(config.epochs == TrainingConfig().epochs, "keys not named keep their defaults")
        let again = try TrainingConfig(yaml: config.yamlText())
        #expect(again == config)
        #expect(again.hash == config.hash)
        var other = config
        other.seed += 1
        #expect(other.hash != config.hash)
    }

    @Test func badKeysAndValuesNameTheSetting() {
        #expect(throws: ConfigError.self) { try TrainingConfig(yaml: "global_bacth: 8") }
        let unknown = message { try TrainingConfig(yaml: "global_bacth: 8") }
        #expect(unknown.contains("unknown setting 'global_bacth'"))
        #expect(message { try TrainingConfig(yaml: "epochs: many") }.contains("'epochs'"))
        var config = TrainingConfig()
        config.bnMode = "groups=5"
        #expect(message { try config.validate() }.contains("groups=5 must divide global_batch 64"))
        config = TrainingConfig()
        config.preset = "huge"
        #expect(message { try config.validate() }.contains("preset must be one of tiny, small, paper, small-fullres"))
        config = TrainingConfig()
        config.trainable = "heatmap_head,full_resolution"
        #expect(message { try config.validate() }.contains("trainable names full_resolution, but preset small has no such part (presets with it: small-fullres)"))
        config.preset = "small-fullres"
        #expect(message { try config.validate() }.isEmpty)
        config = TrainingConfig()
        config.globalBatch = 0
        #expect(message { try config.validate() }.contains("global_batch must be at least 1"))
        config = TrainingConfig()
        config.heatmapLoss = "huber"
        #expect(message { try config.validate() }.contains("heatmap_loss must be mse or focal, got 'huber'"))
    }

    @Test func theHeatmapLossIsChosenByName() throws {
        #expect(TrainingConfig().heatmapLoss == "mse" && TrainingConfig().deblendLoss.weightHeatmap == 15)
        let focal = try TrainingConfig(yaml: "heatmap_loss: focal\n")
        try focal.validate()
        #expect(focal.deblendLoss.heatmapLoss == .focal && focal.deblendLoss.weightHeatmap == 1)
        #expect(focal.hash != TrainingConfig().hash)
        let flux = try TrainingConfig(yaml: "map_loss: flux\n")
        try flux.validate()
        #expect(flux.deblendLoss.mapLoss == .fluxWeighted && TrainingConfig().deblendLoss.mapLoss == .crossEntropy)
        var config = TrainingConfig()
        config.mapLoss = "l2"
        #expect(message { try config.validate() }.contains("map_loss must be ce or flux, got 'l2'"))
        // heatmap_weight: 0 keeps the heatmap loss's own weight; a value replaces it.
        config = TrainingConfig()
        #expect(config.deblendLoss.weightHeatmap == 15)
        config.heatmapLoss = "focal"
        #expect(config.deblendLoss.weightHeatmap == 1)
        config.heatmapWeight = 150
        #expect(config.deblendLoss.weightHeatmap == 150 && config.deblendLoss.weightMaps == 4)
        config.heatmapWeight = -1
        #expect(message { try config.validate() }.contains("heatmap_weight must be a finite number >= 0"))
        #expect(try TrainingConfig(yaml: "heatmap_weight: 150").deblendLoss.weightHeatmap == 150)
        // close_pair_weight and close_pair_radius reach the loss; 0 (the default) weighs all alike.
        config = TrainingConfig()
        #expect(config.deblendLoss.closePairWeight == 0)
        let pairs = try TrainingConfig(yaml: "close_pair_weight: 20\nclose_pair_radius: 6\n")
        try pairs.validate()
        #expect(pairs.deblendLoss.closePairWeight == 20 && pairs.deblendLoss.closePairRadius == 6 && pairs.hash != config.hash)
        config.closePairWeight = .nan
        #expect(message { try config.validate() }.contains("close_pair_weight must be a finite number >= 0"))
        config.closePairWeight = 5; config.closePairRadius = 0.5
        #expect(message { try config.validate() }.contains("close_pair_radius must be a finite number of pixels >= 1, got 0.5"))
        // So do blended_centre_weight and blended_centre_radius.
        config = TrainingConfig()
        #expect(config.deblendLoss.blendedCentreWeight == 0)
        let blended = try TrainingConfig(yaml: "blended_centre_weight: 10\nblended_centre_radius: 4\n")
        try blended.validate()
        #expect(blended.deblendLoss.blendedCentreWeight == 10 && blended.deblendLoss.blendedCentreRadius == 4 && blended.hash != config.hash)
        config.blendedCentreWeight = -2
        #expect(message { try config.validate() }.contains("blended_centre_weight must be a finite number >= 0 (0 = every pixel alike), got -2.0"))
        config.blendedCentreWeight = 5; config.blendedCentreRadius = .infinity
        #expect(message { try config.validate() }.contains("blended_centre_radius must be a finite number of pixels >= 1, got inf"))
    }

    @Test func theTrainablePartsAreChosenByName() throws {
        #expect(TrainingConfig().trainableParts == Set(NetworkPart.allCases))
        let head = try TrainingConfig(yaml: "trainable: heatmap_head,map_head\n")
        try head.validate()
        #expect(head.trainableParts == [.heatmapHead, .mapHead] && head.hash != TrainingConfig().hash)
        var config = TrainingConfig()
        config.trainable = "heatmap_head,decoder"
        let named = message { try config.validate() }
        #expect(named.contains("unknown part 'decoder'") && named.contains("known: all, encoder"))
        #expect(!named.contains("invalid model configuration"), "a config error, not the model's")
    }

    /// The recipes in configs/ are what users submit (`CONFIG=configs/X.yaml sbatch jobs/train.sbatch`):
    /// a key renamed in the code, or a value a check now refuses, must fail here and not on a cluster.
    @Test func everyShippedConfigLoadsAndValidates() throws {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs")
        let files = try FileManager.default.contentsOfDirectory(atPath: configs.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.contains("paper.yaml") && files.contains("tiny.yaml") && files.contains("five-slots.yaml"))
        for file in files {
            let config = try TrainingConfig(contentsOf: configs.appendingPathComponent(file).path)
            try config.validate()
        }
        // The pair differs in the slots only: the labels (dataset) and the start file that matches them.
        let five = try TrainingConfig(contentsOf: configs.appendingPathComponent("five-slots.yaml").path)
        var control = try TrainingConfig(contentsOf: configs.appendingPathComponent("five-slots-control.yaml").path)
        #expect(control.dataset != five.dataset && control.initWeights != five.initWeights)
        control.dataset = five.dataset
        control.initWeights = five.initWeights
        #expect(control == five)
        // The brightest-slot run shares the control's start file; only its labels differ.
        var brightest = try TrainingConfig(contentsOf: configs.appendingPathComponent("brightest-slots.yaml").path)
        control = try TrainingConfig(contentsOf: configs.appendingPathComponent("five-slots-control.yaml").path)
        #expect(brightest.dataset != control.dataset && brightest.initWeights == control.initWeights)
        brightest.dataset = control.dataset
        #expect(brightest == control)
    }
}

func message(_ body: () throws -> Any) -> String {
    do {
        _ = try body()
        return ""
    } catch {
        return "\(error)"
    }
}
