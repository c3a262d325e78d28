plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
    id("org.jetbrains.kotlin.plugin.compose")
}

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
    }

    // The pure core (manifest, tiling, pixels, int8 I/O, driver) is compiled in from ../core,
    // exactly the sources that core/run_tests.sh checks against the conformance vectors.
    sourceSets["main"].java.srcDirs("src/main/kotlin", "../core/src/main/kotlin")

    // The .pte is memory-mapped/copied as is: never compress it into the APK.
    androidResources { noCompress += "pte" }

    buildTypes {
        release {
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug") // a demo: installable as built
        }
    }
    buildFeatures { compose = true }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // Must match the executorch version that exported the .pte (pyproject.toml: executorch==1.5.1).
    implementation("org.pytorch:executorch-android:1.5.1")

    implementation(platform("androidx.compose:compose-bom:2025.09.00"))
    implementation("androidx.compose.ui:ui")
    implementation("androidx.compose.foundation:foundation")
    implementation("androidx.compose.material3:material3")
    implementation("androidx.activity:activity-compose:1.11.0")
    implementation("androidx.lifecycle:lifecycle-viewmodel-compose:2.9.4")
    implementation("androidx.lifecycle:lifecycle-runtime-compose:2.9.4")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}
