import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
    id("org.jetbrains.kotlin.plugin.compose")
}

// The ExecuTorch Android runtime: the newest version with a published Maven Central release
// that we could confirm (README, "ExecuTorch runtime version"); change it in gradle.properties.
// A local AAR at app/libs/executorch.aar (e.g. one built from source at the exporter's version)
// replaces the Maven one.
val executorchVersion = providers.gradleProperty("mossnet.executorch.version").get()
val localExecutorchAar = file("libs/executorch.aar")

android {
    namespace = "org.mossnet.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "org.mossnet.demo"
        minSdk = 29 // ImageDecoder, and MediaStore saving without a storage permission
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        ndk { abiFilters += listOf("arm64-v8a", "x86_64") } // phones, and the emulator
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
        // Shown beside the model line when the manifest's exporter version is outside the
        // runtime compatibility policy for this runtime (core: RuntimeCompat).
        buildConfigField("String", "EXECUTORCH_VERSION",
            "\"" + (if (localExecutorchAar.exists()) "local" else executorchVersion) + "\"")
    }

    // The pure core (manifest, tiling, pixels, int8 I/O, driver, state machine) is compiled in
    // from ../core, exactly the sources that core/run_tests.sh tests on Linux.
    sourceSets["main"].java.srcDirs("src/main/kotlin", "../core/src/main/kotlin")

    // The .pte is memory-mapped/copied as is: never compress it into the APK.
    androidResources { noCompress += "pte" }

    buildTypes {
        release {
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug") // a demo: installable as built
        }
    }
    buildFeatures {
        compose = true
        buildConfig = true
    }
    // Bytecode level 17, compiled by whatever JDK runs Gradle (17 or newer, e.g. Android
    // Studio's bundled JDK 21): no toolchain is forced, so nothing needs to be downloaded.
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    if (localExecutorchAar.exists()) {
        implementation(files(localExecutorchAar))
        implementation("com.facebook.fbjni:fbjni:0.7.0") // what the Maven AAR brings in by itself
        implementation("com.facebook.soloader:nativeloader:0.10.5")
    } else {
        implementation("org.pytorch:executorch-android:$executorchVersion")
    }

    implementation(platform("androidx.compose:compose-bom:2025.09.00"))
    implementation("androidx.compose.ui:ui")
    implementation("androidx.compose.ui:ui-tooling-preview")
    implementation("androidx.compose.foundation:foundation")
    implementation("androidx.compose.material3:material3")
    implementation("androidx.activity:activity-compose:1.11.0")
    implementation("androidx.lifecycle:lifecycle-viewmodel-compose:2.9.4")
    implementation("androidx.lifecycle:lifecycle-runtime-compose:2.9.4")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    debugImplementation("androidx.compose.ui:ui-tooling")

    // JVM unit tests (./gradlew :app:testDebugUnitTest): the app's view of the core.
    testImplementation("junit:junit:4.13.2")
    testImplementation("org.json:json:20250517") // android.jar's org.json is a stub on the JVM

    // Instrumented tests on a device or emulator (./gradlew :app:connectedDebugAndroidTest).
    androidTestImplementation(platform("androidx.compose:compose-bom:2025.09.00"))
    androidTestImplementation("androidx.compose.ui:ui-test-junit4")
    androidTestImplementation("androidx.test.ext:junit:1.2.1")
    androidTestImplementation("androidx.test:runner:1.6.2")
    debugImplementation("androidx.compose.ui:ui-test-manifest")
}
